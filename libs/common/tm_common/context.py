"""Per-request context carried in contextvars: the request id and the authenticated caller."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from tm_common.errors import Unauthenticated


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as asserted by a verified access token."""

    user_id: int
    username: str
    token: str
    expires_at: float


request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal:
    """The caller of the current RPC; raises Unauthenticated on a public method."""
    principal = principal_var.get()
    if principal is None:
        raise Unauthenticated("authentication required")
    return principal
