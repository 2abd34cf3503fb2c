"""The auth service's user directory, for the services that need to look users up (over gRPC).

Calls carry the end user's own token (tm_common.clients), so auth verifies the caller itself."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from tm_common.clients import service_channel
from tm_common.errors import Unavailable


@dataclass(frozen=True)
class UserRef:
    id: int
    username: str
    email: str


class UserDirectory:
    def __init__(self, auth_address: str, timeout: float = 3.0) -> None:
        self._address = auth_address
        self._timeout = timeout
        self._stub: auth_pb2_grpc.UserDirectoryServiceAsyncStub | None = None

    def _directory(self) -> auth_pb2_grpc.UserDirectoryServiceAsyncStub:
        if self._stub is None:  # made on first use, in the loop that serves requests
            self._stub = auth_pb2_grpc.UserDirectoryServiceStub(service_channel(self._address))
        return self._stub

    async def by_username(self, username: str) -> UserRef | None:
        try:
            reply = await self._directory().GetUserByUsername(
                auth_pb2.GetUserByUsernameRequest(username=username), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            _raise_unless_not_found(exc)
            return None
        return _ref(reply.user)

    async def by_id(self, user_id: int) -> UserRef | None:
        try:
            reply = await self._directory().GetUser(
                auth_pb2.GetUserRequest(id=user_id), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            _raise_unless_not_found(exc)
            return None
        return _ref(reply.user)


def _ref(user: auth_pb2.User) -> UserRef:
    return UserRef(id=user.id, username=user.username, email=user.email)


def _raise_unless_not_found(exc: grpc.aio.AioRpcError) -> None:
    if exc.code() != grpc.StatusCode.NOT_FOUND:
        raise Unavailable("the user directory is unavailable") from exc
