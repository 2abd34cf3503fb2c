"""The same operations as native gRPC through the gateway's port."""

from __future__ import annotations

import grpc
import pytest

from support.accounts import PASSWORD, unique
from support.tokens import alg_none_token, expired_token, wrong_key_token
from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from taskmanager.ops.v1 import ops_pb2, ops_pb2_grpc


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def test_register_login_and_call_over_native_grpc(gateway_channel) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(gateway_channel)
    name = unique("grpc")
    user = stub.Register(
        auth_pb2.RegisterRequest(username=name, email=f"{name}@example.com", password=PASSWORD)
    )
    token = stub.Login(auth_pb2.LoginRequest(username=name, password=PASSWORD)).access_token
    me, call = stub.GetMe.with_call(auth_pb2.GetMeRequest(), metadata=bearer(token))
    assert (me.id, me.username) == (user.id, name)
    assert dict(call.initial_metadata())["x-request-id"]  # Envoy's id, quotable by the client


def test_duplicate_is_already_exists(gateway_channel) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(gateway_channel)
    name = unique("grpcdup")
    request = auth_pb2.RegisterRequest(username=name, email=f"{name}@example.com", password=PASSWORD)
    stub.Register(request)
    with pytest.raises(grpc.RpcError) as error:
        stub.Register(request)
    assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize("kind", ["missing", "expired", "wrong_key", "alg_none", "garbled"])
def test_bad_tokens_are_rejected_at_the_edge(gateway_channel, jwt_keys_dir, kind) -> None:
    tokens = {
        "expired": expired_token,
        "wrong_key": wrong_key_token,
        "alg_none": alg_none_token,
        "garbled": lambda _: "x.y.z",
    }
    metadata = bearer(tokens[kind](jwt_keys_dir)) if kind in tokens else ()
    with pytest.raises(grpc.RpcError) as error:
        auth_pb2_grpc.AuthServiceStub(gateway_channel).GetMe(auth_pb2.GetMeRequest(), metadata=metadata)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_internal_services_are_not_reachable_through_the_gateway(gateway_channel, account) -> None:
    directory = auth_pb2_grpc.UserDirectoryServiceStub(gateway_channel)
    with pytest.raises(grpc.RpcError) as error:
        directory.GetUser(auth_pb2.GetUserRequest(id=account.id), metadata=bearer(account.token))
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    diagnostics = ops_pb2_grpc.DiagnosticsServiceStub(gateway_channel)
    with pytest.raises(grpc.RpcError) as error:
        diagnostics.CheckDependencies(ops_pb2.CheckDependenciesRequest(), metadata=bearer(account.token))
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_health_over_native_grpc_needs_no_token(gateway_channel) -> None:
    reply = ops_pb2_grpc.OpsServiceStub(gateway_channel).GetHealth(ops_pb2.GetHealthRequest())
    assert reply.status == "ok"
