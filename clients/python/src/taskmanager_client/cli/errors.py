"""Exit codes, and the one place that turns errors into a message and a code."""

from __future__ import annotations

from typing import Final

import grpc
from google.rpc import error_details_pb2, status_pb2

OK: Final = 0
ERROR: Final = 1
USAGE: Final = 2
AUTH: Final = 3
NOT_FOUND: Final = 4
PERMISSION: Final = 5
INVALID: Final = 6
UNAVAILABLE: Final = 7
CONFLICT: Final = 8

EXIT_CODES_HELP: Final = f"""exit codes:
  {OK}  success
  {ERROR}  other error
  {USAGE}  usage error (bad arguments)
  {AUTH}  not logged in, session expired or wrong credentials
  {NOT_FOUND}  not found (or not visible to you)
  {PERMISSION}  permission denied
  {INVALID}  invalid input (rejected by the server, or a local file problem)
  {UNAVAILABLE}  server unavailable or too slow (see --server, --timeout)
  {CONFLICT}  conflict (already exists)"""

_BY_CODE: Final[dict[grpc.StatusCode, tuple[int, str]]] = {
    grpc.StatusCode.UNAUTHENTICATED: (AUTH, "not authenticated"),
    grpc.StatusCode.NOT_FOUND: (NOT_FOUND, "not found"),
    grpc.StatusCode.PERMISSION_DENIED: (PERMISSION, "permission denied"),
    grpc.StatusCode.INVALID_ARGUMENT: (INVALID, "invalid input"),
    grpc.StatusCode.OUT_OF_RANGE: (INVALID, "invalid input"),
    grpc.StatusCode.FAILED_PRECONDITION: (INVALID, "not possible now"),
    grpc.StatusCode.ALREADY_EXISTS: (CONFLICT, "already exists"),
    grpc.StatusCode.ABORTED: (CONFLICT, "conflict, try again"),
    grpc.StatusCode.UNAVAILABLE: (UNAVAILABLE, "server unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (UNAVAILABLE, "server did not answer in time"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (ERROR, "rate limited or too large, try again later"),
    grpc.StatusCode.UNIMPLEMENTED: (ERROR, "not supported by this server"),
}


class CliError(Exception):
    """An expected failure: printed as `taskctl: <message>` and exited with `code`."""

    def __init__(self, message: str, code: int = ERROR) -> None:
        super().__init__(message)
        self.code = code


def from_rpc(error: grpc.RpcError, server: str) -> CliError:
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    exit_code, summary = _BY_CODE.get(code, (ERROR, f"server error ({code.name.lower()})"))
    detail = error.details() if isinstance(error, grpc.Call) else ""
    if code is grpc.StatusCode.UNAVAILABLE and _unreachable(detail):
        detail = f"cannot reach {server}"
    fields = [(field, why) for field, why in _violations(error) if f"{field}: {why}" not in detail]
    message = f"{summary}: {detail}" if detail and summary not in detail.lower() else detail or summary
    if fields:
        message += "".join(f"\n  {field}: {why}" for field, why in fields)
    return CliError(message, exit_code)


def _unreachable(detail: str) -> bool:
    """gRPC's own UNAVAILABLE (no connection), as opposed to one the server answered with."""
    detail = detail.lower()
    return not detail or any(sign in detail for sign in ("failed to connect", "connection refused", "dns"))


def _violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """The google.rpc.BadRequest field violations of the error's rich status, if it has one."""
    if not isinstance(error, grpc.Call):
        return []
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            found: list[tuple[str, str]] = []
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    found += [(v.field, v.description) for v in bad.field_violations]
            return found
    return []
