"""Domain errors and their one mapping to gRPC status codes with google.rpc.Status details.

Every error travels in gRPC headers (grpc-message, grpc-status-details-bin), which every hop
caps (tm_common.clients.METADATA_BYTES): so messages and field violations are capped here,
whatever a caller sent.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

MAX_MESSAGE = 500  # characters of an error message
MAX_FIELD_TEXT = 200  # characters of a field violation's field name or description
MAX_VIOLATIONS = 10


def bounded(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters (with an ellipsis when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class DomainError(Exception):
    """Base of every error a use case raises on purpose. The message is safe to show callers."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        message = bounded(message, MAX_MESSAGE)
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        return []

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


class InvalidArgument(DomainError):
    """400. `fields` maps each offending field to what is wrong with it."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = {
            bounded(f, MAX_FIELD_TEXT): bounded(d, MAX_FIELD_TEXT)
            for f, d in list((fields or {}).items())[:MAX_VIOLATIONS]
        }

    @classmethod
    def for_field(cls, field: str, problem: str) -> InvalidArgument:
        return cls(f"{field}: {problem}", {field: problem})

    def details(self) -> list[any_pb2.Any]:
        if not self.fields:
            return []
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in self.fields.items()
            ]
        )
        return [_pack(bad_request)]


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    """400: the request is fine, but this deployment or the resource's state cannot serve it
    (e.g. presigned URLs without S3): retrying the same request will not help."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE


class RateLimited(DomainError):
    """429 with a Retry-After header (and RetryInfo for gRPC callers)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, retry_after_seconds)

    def details(self) -> list[any_pb2.Any]:
        delay = duration_pb2.Duration(seconds=self.retry_after_seconds)
        return [_pack(error_details_pb2.RetryInfo(retry_delay=delay))]

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("retry-after", str(self.retry_after_seconds)),)


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_rpc_status(error: DomainError) -> status_pb2.Status:
    """The google.rpc.Status for a domain error (Envoy renders it as the JSON error body)."""
    return status_pb2.Status(code=error.code.value[0], message=error.message, details=error.details())


INTERNAL_STATUS = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
UNAVAILABLE_STATUS = status_pb2.Status(
    code=code_pb2.UNAVAILABLE, message="a service this depends on is unavailable; try again"
)


class Problems:
    """Collects field errors so a caller learns everything wrong with a request at once."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, field: str, problem: str) -> None:
        self.fields.setdefault(field, problem)

    def raise_if_any(self) -> None:
        if self.fields:
            message = "; ".join(f"{field}: {problem}" for field, problem in self.fields.items())
            raise InvalidArgument(message, self.fields)
