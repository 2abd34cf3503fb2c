"""The one error shape (google.rpc.Status), as JSON and over native gRPC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def assert_status_body(response: httpx.Response, http_code: int, grpc_code: int) -> dict[str, Any]:
    """Errors have one JSON shape, google.rpc.Status; returns it."""
    assert response.status_code == http_code, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == grpc_code
    assert "grpc-status" not in response.headers
    return body


def field_violations(body: dict[str, Any]) -> set[str]:
    """The fields named by the google.rpc.BadRequest details of a google.rpc.Status JSON body."""
    return {
        violation["field"]
        for detail in body["details"]
        if detail.get("@type") == "type.googleapis.com/google.rpc.BadRequest"
        for violation in detail.get("field_violations", [])
    }


def assert_bad_request(response: httpx.Response, *fields: str) -> dict[str, Any]:
    """A 400 google.rpc.Status whose BadRequest names exactly `fields`; returns the body."""
    body = assert_status_body(response, 400, 3)
    assert field_violations(body) == set(fields), body
    return body


def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    """The error a gRPC call raises (the test fails if it succeeds)."""
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value


def violated_fields(error: grpc.RpcError) -> set[str]:
    """Fields named by the google.rpc.BadRequest in the error's rich status."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # an RpcError is also its Call
    assert status is not None, "no google.rpc.Status details"
    fields: set[str] = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields |= {violation.field for violation in bad_request.field_violations}
    return fields
