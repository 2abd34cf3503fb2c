"""What the use cases need, built once by bootstrap."""

from __future__ import annotations

from dataclasses import dataclass, field

from tm_common.db import Database
from tm_common.ratelimit import Limit, RateLimiter
from tm_common.users import UserDirectory
from tm_notify.adapters.senders import EmailSender


@dataclass(frozen=True)
class CodePolicy:
    key: bytes  # the HMAC key codes are stored under
    ttl_seconds: int = 900
    max_attempts: int = 5  # wrong codes before a code is dead
    verify_limit: Limit = field(default_factory=lambda: Limit("verify", 10, 900))  # per user
    subscribe_limit: Limit = field(default_factory=lambda: Limit("subscribe", 5, 3600))  # per user


@dataclass
class NotifyDeps:
    db: Database
    limiter: RateLimiter
    directory: UserDirectory
    sender: EmailSender
    codes: CodePolicy
