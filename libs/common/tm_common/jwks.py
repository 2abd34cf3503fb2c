"""Fetching the auth service's public keys (JWKS) over gRPC, for services other than auth."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from tm_common.tokens import JwksFetcher


def jwks_from_auth_service(address: str, timeout: float = 3.0) -> JwksFetcher:
    channel = grpc.aio.insecure_channel(address)
    stub = auth_pb2_grpc.AuthServiceStub(channel)

    async def fetch() -> list[dict[str, Any]]:
        reply = await stub.GetJwks(auth_pb2.GetJwksRequest(), timeout=timeout)
        return [MessageToDict(key, preserving_proto_field_name=True) for key in reply.keys]

    return fetch
