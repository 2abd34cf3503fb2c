"""gRPC servicers of the auth service: translate requests to use cases and results to replies."""

from __future__ import annotations

import grpc

from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from tm_auth.adapters.messages import user_message
from tm_auth.service import accounts
from tm_auth.service.accounts import AuthDeps
from tm_common.context import current_principal
from tm_common.http import client_address, created

SERVICE_NAMES = [
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
    auth_pb2.DESCRIPTOR.services_by_name["UserDirectoryService"].full_name,
]
_AUTH = SERVICE_NAMES[0]
PUBLIC_METHODS = [f"/{_AUTH}/Register", f"/{_AUTH}/Login", f"/{_AUTH}/GetJwks"]


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, deps: AuthDeps) -> None:
        self.deps = deps

    async def Register(
        self, request: auth_pb2.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.User:
        user = await accounts.register(self.deps, request.username, request.email, request.password)
        created()
        return user_message(user)

    async def Login(
        self, request: auth_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.LoginResponse:
        token = await accounts.login(self.deps, request.username, request.password, client_address(context))
        return auth_pb2.LoginResponse(
            access_token=token.access_token, token_type="bearer", expires_in=token.expires_in
        )

    async def GetJwks(
        self, request: auth_pb2.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.GetJwksResponse:
        return auth_pb2.GetJwksResponse(keys=[auth_pb2.Jwk(**jwk) for jwk in self.deps.keys.jwks()])

    async def GetMe(self, request: auth_pb2.GetMeRequest, context: grpc.aio.ServicerContext) -> auth_pb2.User:
        return user_message(await accounts.get_user(self.deps, current_principal().user_id))


class UserDirectoryServicer(auth_pb2_grpc.UserDirectoryServiceServicer):
    def __init__(self, deps: AuthDeps) -> None:
        self.deps = deps

    async def GetUser(
        self, request: auth_pb2.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.GetUserResponse:
        return auth_pb2.GetUserResponse(user=user_message(await accounts.get_user(self.deps, request.id)))

    async def GetUserByUsername(
        self, request: auth_pb2.GetUserByUsernameRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.GetUserByUsernameResponse:
        user = await accounts.get_user_by_username(self.deps, request.username)
        return auth_pb2.GetUserByUsernameResponse(user=user_message(user))

    async def BatchGetUsers(
        self, request: auth_pb2.BatchGetUsersRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.BatchGetUsersResponse:
        found = await accounts.batch_get_users(self.deps, list(request.ids))
        return auth_pb2.BatchGetUsersResponse(users=[user_message(u) for u in found])
