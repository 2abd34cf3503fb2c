"""When a failed email is tried again, and when it is given up. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    max_seconds: float = 600.0
    # A mail the provider cannot take yet (an SNS subscription awaiting confirmation) is asked
    # again this often, without counting an attempt, until it expires.
    defer_seconds: float = 30.0


class Deferred(Exception):
    """Raised by a sender when the provider cannot take an email yet: asked again later."""


def backoff(policy: RetryPolicy, failed_attempts: int) -> float:
    """Seconds before the next try after `failed_attempts` failures (1, 2, ...): doubling, capped."""
    exponent = max(failed_attempts - 1, 0)
    return min(policy.base_seconds * 2.0 ** min(exponent, 30), policy.max_seconds)


def gives_up(policy: RetryPolicy, failed_attempts: int) -> bool:
    return failed_attempts >= policy.max_attempts


def expired(expires_at: datetime | None, now: datetime) -> bool:
    """A mail with an expiry (a verification code's) is pointless after it."""
    return expires_at is not None and now >= expires_at
