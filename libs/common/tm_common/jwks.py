"""Fetching the auth service's public keys (JWKS) over gRPC, for services other than auth."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict

from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from tm_common.clients import service_channel
from tm_common.tokens import JwksFetcher


def jwks_from_auth_service(address: str, timeout: float = 3.0) -> JwksFetcher:
    stubs: list[auth_pb2_grpc.AuthServiceAsyncStub] = []

    async def fetch() -> list[dict[str, Any]]:
        if not stubs:  # the channel is made on first use, in the loop that serves requests
            stubs.append(auth_pb2_grpc.AuthServiceStub(service_channel(address)))
        reply = await stubs[0].GetJwks(auth_pb2.GetJwksRequest(), timeout=timeout)
        return [MessageToDict(key, preserving_proto_field_name=True) for key in reply.keys]

    return fetch
