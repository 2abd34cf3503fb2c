"""The auth servicer over real gRPC, Postgres and Redis (no gateway in between)."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from support.accounts import unique
from support.tokens import (
    AUDIENCE,
    ISSUER,
    alg_none_token,
    expired_token,
    signing_key,
    tampered_token,
    wrong_key_token,
)
from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc

PASSWORD = "correct horse"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def register(channel, username: str | None = None, email: str | None = None) -> auth_pb2.User:
    username = username or unique("user")
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    return await stub.Register(
        auth_pb2.RegisterRequest(
            username=username, email=email or f"{username}@example.com", password=PASSWORD
        )
    )


async def login(channel, username: str, password: str = PASSWORD, address: str = "198.51.100.1") -> str:
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    reply = await stub.Login(
        auth_pb2.LoginRequest(username=username, password=password),
        metadata=(("x-forwarded-for", address),),
    )
    return reply.access_token


async def test_register_answers_201_hint_and_the_user(channel) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    name = unique("reg")
    call = stub.Register(
        auth_pb2.RegisterRequest(username=name, email=f"{name}@Example.com", password=PASSWORD)
    )
    user = await call
    assert dict(await call.initial_metadata())["x-http-code"] == "201"
    assert user.id > 0 and user.username == name and user.email == f"{name}@example.com"
    assert user.created_at.seconds > 0


async def test_duplicates_are_already_exists_case_insensitively(channel) -> None:
    user = await register(channel)
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await register(channel, username=user.username.upper())
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "username" in taken.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as email_taken:
        await register(channel, email=user.email.upper())
    assert email_taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "email" in email_taken.value.details()


async def test_invalid_registration_names_fields(channel) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Register(auth_pb2.RegisterRequest(username="x", email="nope", password="1"))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error.value)
    bad_request = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad_request)
    assert {v.field for v in bad_request.field_violations} == {"username", "email", "password"}


async def test_login_gives_a_token_that_identifies_the_user(channel) -> None:
    user = await register(channel)
    token = await login(channel, user.username)
    me = await auth_pb2_grpc.AuthServiceStub(channel).GetMe(auth_pb2.GetMeRequest(), metadata=bearer(token))
    assert me.id == user.id and me.username == user.username


async def test_wrong_password_and_unknown_user_are_unauthenticated(channel) -> None:
    user = await register(channel)
    for name, password in ((user.username, "wrong password"), (unique("ghost"), PASSWORD)):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await login(channel, name, password, address=unique("addr"))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error.value.details() == "incorrect username or password"


async def test_per_username_limit(channel) -> None:
    user = await register(channel)
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError):
            await login(channel, user.username, "wrong password", address=unique("a"))
    with pytest.raises(grpc.aio.AioRpcError) as limited:
        await login(channel, user.username, PASSWORD, address=unique("a"))  # even the right password
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(dict(limited.value.trailing_metadata())["retry-after"]) > 0


async def test_per_address_limit(channel) -> None:
    address = "203.0.113.77"
    for _ in range(25):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await login(channel, unique("nobody"), PASSWORD, address=address)
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as limited:
        await login(channel, unique("nobody"), PASSWORD, address=address)
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    user = await register(channel)
    assert await login(channel, user.username, address="203.0.113.78")  # other addresses are fine


@pytest.mark.parametrize("kind", ["expired", "wrong_key", "alg_none", "garbled", "tampered", "missing"])
async def test_bad_tokens_are_rejected_by_the_service_itself(channel, jwt_keys_dir, kind) -> None:
    user = await register(channel)
    tokens = {
        "expired": lambda: expired_token(jwt_keys_dir),
        "wrong_key": lambda: wrong_key_token(jwt_keys_dir),
        "alg_none": lambda: alg_none_token(jwt_keys_dir),
        "garbled": lambda: "garbage",
    }
    if kind == "tampered":
        token = tampered_token(await login(channel, user.username))
    else:
        token = tokens[kind]() if kind in tokens else None
    metadata = bearer(token) if token else ()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await auth_pb2_grpc.AuthServiceStub(channel).GetMe(auth_pb2.GetMeRequest(), metadata=metadata)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_user_directory_lookups(channel) -> None:
    ann, bob = await register(channel), await register(channel)
    token = await login(channel, ann.username)
    directory = auth_pb2_grpc.UserDirectoryServiceStub(channel)
    by_id = await directory.GetUser(auth_pb2.GetUserRequest(id=bob.id), metadata=bearer(token))
    assert by_id.user.username == bob.username
    by_name = await directory.GetUserByUsername(
        auth_pb2.GetUserByUsernameRequest(username=bob.username.upper()), metadata=bearer(token)
    )
    assert by_name.user.id == bob.id
    batch = await directory.BatchGetUsers(
        auth_pb2.BatchGetUsersRequest(ids=[ann.id, bob.id, 2_000_000_000]), metadata=bearer(token)
    )
    assert sorted(u.id for u in batch.users) == sorted([ann.id, bob.id])
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await directory.GetUser(auth_pb2.GetUserRequest(id=2_000_000_000), metadata=bearer(token))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_user_directory_needs_a_token(channel) -> None:
    directory = auth_pb2_grpc.UserDirectoryServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await directory.GetUser(auth_pb2.GetUserRequest(id=1))
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_jwks_publishes_the_signing_key(channel, jwt_keys_dir) -> None:
    reply = await auth_pb2_grpc.AuthServiceStub(channel).GetJwks(auth_pb2.GetJwksRequest())
    kid, _ = signing_key(jwt_keys_dir)
    (key,) = reply.keys
    assert (key.kid, key.kty, key.crv, key.alg, key.use) == (kid, "OKP", "Ed25519", "EdDSA", "sig")
    assert not key.HasField("n")


async def test_service_channels_forward_the_callers_token(auth_server) -> None:
    """What another service does when it calls auth on a user's behalf (tm_common.clients)."""
    from tm_common.clients import service_channel
    from tm_common.context import Principal, principal_var
    from tm_common.jwks import jwks_from_auth_service
    from tm_common.tokens import TokenVerifier

    async with grpc.aio.insecure_channel(auth_server) as plain:
        user = await register(plain)
        token = await login(plain, user.username)
    verifier = TokenVerifier(jwks_from_auth_service(auth_server), issuer=ISSUER, audience=AUDIENCE)
    principal = await verifier.verify(token)  # keys fetched over gRPC, as other services do
    assert principal.user_id == user.id
    principal_var.set(Principal(user.id, user.username, token, principal.expires_at))
    try:
        async with service_channel(auth_server) as channel:
            directory = auth_pb2_grpc.UserDirectoryServiceStub(channel)
            reply = await directory.GetUser(auth_pb2.GetUserRequest(id=user.id))  # no explicit token
        assert reply.user.username == user.username
    finally:
        principal_var.set(None)
