import grpc
from google.rpc import error_details_pb2

from tm_common.errors import (
    MAX_FIELD_TEXT,
    MAX_MESSAGE,
    MAX_VIOLATIONS,
    InvalidArgument,
    NotFound,
    RateLimited,
    to_rpc_status,
)


def test_invalid_argument_carries_field_violations() -> None:
    status = to_rpc_status(InvalidArgument("bad", {"title": "is required", "priority": "unknown"}))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert {(v.field, v.description) for v in bad_request.field_violations} == {
        ("title", "is required"),
        ("priority", "unknown"),
    }


def test_for_field_names_the_field_in_the_message() -> None:
    error = InvalidArgument.for_field("limit", "must be 1 to 100")
    assert error.message == "limit: must be 1 to 100"
    assert error.fields == {"limit": "must be 1 to 100"}


def test_rate_limited_gives_retry_info_and_header() -> None:
    error = RateLimited("slow down", retry_after_seconds=42)
    status = to_rpc_status(error)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.seconds == 42
    assert error.trailing_metadata() == (("retry-after", "42"),)


def test_retry_after_is_at_least_one_second() -> None:
    assert RateLimited("x", retry_after_seconds=0).retry_after_seconds == 1


def test_plain_errors_have_no_details() -> None:
    status = to_rpc_status(NotFound("task 3 not found"))
    assert status.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert status.message == "task 3 not found"
    assert not status.details


def test_messages_and_field_violations_are_capped_whatever_the_input() -> None:
    huge = "x" * 100_000
    assert len(NotFound(f"user {huge} not found").message) == MAX_MESSAGE
    error = InvalidArgument(huge, {f"{i}{huge}": huge for i in range(50)})
    assert len(error.message) == MAX_MESSAGE
    assert len(error.fields) == MAX_VIOLATIONS
    assert all(len(f) <= MAX_FIELD_TEXT and len(d) <= MAX_FIELD_TEXT for f, d in error.fields.items())
    # what crosses the wire stays far below gRPC's metadata limits
    assert len(to_rpc_status(error).SerializeToString()) < 8 * 1024


def test_a_short_message_is_kept_as_it_is() -> None:
    assert NotFound("task 3 not found").message == "task 3 not found"
