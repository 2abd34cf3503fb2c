"""Service identity on the running stack (issue 16): the services speak mTLS only, and an
internal-only RPC answers only the services allowed to call it, whatever user token it carries."""

from __future__ import annotations

import grpc
import httpx

from support.accounts import Account, new_account
from support.stacks import running, suite_stack_config
from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from taskmanager.ops.v1 import ops_pb2, ops_pb2_grpc
from tm_devstack.certs import GATEWAY, TEST_CLIENT


def get_user(channel: grpc.Channel, account: Account) -> grpc.StatusCode:
    stub = auth_pb2_grpc.UserDirectoryServiceStub(channel)
    metadata = (("authorization", f"Bearer {account.token}"),)
    try:
        reply = stub.GetUser(auth_pb2.GetUserRequest(id=account.id), metadata=metadata, timeout=5)
    except grpc.RpcError as error:
        return error.code()
    assert reply.user.username == account.username
    return grpc.StatusCode.OK


def test_a_user_token_on_an_internal_rpc_is_permission_denied(stack, account: Account) -> None:
    for caller in (TEST_CLIENT, GATEWAY, "files"):
        with stack.service_channel("auth", identity=caller) as channel:
            assert get_user(channel, account) == grpc.StatusCode.PERMISSION_DENIED, caller


def test_the_services_allowed_call_it(stack, account: Account) -> None:
    for caller in ("tasks", "notify"):
        with stack.service_channel("auth", identity=caller) as channel:
            assert get_user(channel, account) == grpc.StatusCode.OK, caller


def test_without_a_client_certificate_there_is_no_connection(stack, account: Account) -> None:
    address = stack.service_address("auth")
    server_only = grpc.ssl_channel_credentials(root_certificates=stack.tls[TEST_CLIENT].ca.read_bytes())
    with grpc.secure_channel(address, server_only) as channel:
        assert get_user(channel, account) == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(address) as channel:
        assert get_user(channel, account) == grpc.StatusCode.UNAVAILABLE


def test_diagnostics_answer_services_only_and_health_still_asks_them(stack, http: httpx.Client) -> None:
    request = ops_pb2.CheckDependenciesRequest()
    with stack.service_channel("tasks") as channel:
        try:
            ops_pb2_grpc.DiagnosticsServiceStub(channel).CheckDependencies(request, timeout=5)
            raise AssertionError("the test client got diagnostics")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    with stack.service_channel("tasks", identity="activity") as channel:
        reply = ops_pb2_grpc.DiagnosticsServiceStub(channel).CheckDependencies(request, timeout=5)
        assert reply.service == "tasks"
    # GET /health: Envoy (over mTLS, as the gateway) to one service, which asks every other one's
    # diagnostics over mTLS, as itself.
    health = http.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"


def test_service_tls_false_runs_the_whole_stack_in_plaintext(tmp_path) -> None:
    """The bench's "mTLS off" (SERVICE_TLS=false): the same stack, every hop plaintext."""
    with running(suite_stack_config(tmp_path, service_tls=False)) as plain:
        with httpx.Client(base_url=plain.gateway_url, timeout=10) as client:
            account = new_account(client)
            # Envoy to a service, and that service to every other one's diagnostics, in plaintext.
            health = client.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        with grpc.insecure_channel(plain.service_address("auth")) as channel:
            assert get_user(channel, account) == grpc.StatusCode.OK  # unprotected, as the log says
        assert "TLS is off" in (plain.log_dir / "auth.log").read_text()
