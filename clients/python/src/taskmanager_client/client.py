"""`Client`: every public service's stub on one channel to the gateway."""

from __future__ import annotations

from types import TracebackType

import grpc

from taskmanager.activity.v1.activity_pb2_grpc import ActivityServiceStub
from taskmanager.auth.v1.auth_pb2 import LoginRequest, LoginResponse
from taskmanager.auth.v1.auth_pb2_grpc import AuthServiceStub
from taskmanager.files.v1.files_pb2_grpc import FilesServiceStub
from taskmanager.notify.v1.notify_pb2_grpc import NotifyServiceStub
from taskmanager.ops.v1.ops_pb2_grpc import OpsServiceStub
from taskmanager.tasks.v1.tasks_pb2_grpc import CommentsServiceStub, SharingServiceStub, TasksServiceStub
from taskmanager_client.interceptors import ClientInterceptor
from taskmanager_client.retries import service_config

# Attachments are up to 10 MiB (files' default MAX_FILE_BYTES) and GetFileContent answers in one
# message: gRPC's default limit of 4 MiB would refuse them.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class Client:
    """The Task Manager over native gRPC, through the Envoy gateway (`target`, host:port).

    Every call carries `authorization: Bearer <token>` while `token` is set, an `x-request-id`
    (`request_id`, else a fresh one per call) and a deadline of `timeout` seconds unless the call
    gives its own. Reads (Get*, List*, DownloadFile...) are retried on UNAVAILABLE with
    exponential backoff by gRPC itself (see taskmanager_client.retries); writes never are.

    TLS: `secure` (the system's CAs) or `root_certificates`; to call a service's own port, which
    speaks mutual TLS, also `private_key` and `certificate_chain` (PEM) of a client certificate
    from the deployment's CA.
    """

    def __init__(
        self,
        target: str = "localhost:8080",
        *,
        token: str | None = None,
        timeout: float = 10.0,
        secure: bool = False,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
        request_id: str | None = None,
    ) -> None:
        if (private_key is None) != (certificate_chain is None):
            raise ValueError("a client certificate needs both private_key and certificate_chain")
        self.target = target
        self.token = token
        self.timeout = timeout
        options = [
            ("grpc.service_config", service_config()),
            ("grpc.enable_retries", 1),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if secure or root_certificates is not None or certificate_chain is not None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=root_certificates,
                private_key=private_key,
                certificate_chain=certificate_chain,
            )
            self._raw_channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._raw_channel = grpc.insecure_channel(target, options=options)
        interceptor = ClientInterceptor(lambda: self.token, request_id, timeout)
        self.channel: grpc.Channel = grpc.intercept_channel(self._raw_channel, interceptor)
        self.auth = AuthServiceStub(self.channel)
        self.tasks = TasksServiceStub(self.channel)
        self.sharing = SharingServiceStub(self.channel)
        self.comments = CommentsServiceStub(self.channel)
        self.files = FilesServiceStub(self.channel)
        self.activity = ActivityServiceStub(self.channel)
        self.notify = NotifyServiceStub(self.channel)
        self.ops = OpsServiceStub(self.channel)

    def login(self, username: str, password: str) -> LoginResponse:
        """Auth.Login; later calls carry the token it returns."""
        reply: LoginResponse = self.auth.Login(LoginRequest(username=username, password=password))
        self.token = reply.access_token
        return reply

    def close(self) -> None:
        self._raw_channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
