"""What the use cases need, built once by bootstrap."""

from __future__ import annotations

from dataclasses import dataclass, field

from tm_common.ratelimit import Limit
from tm_notify.service.unit_of_work import Directory, EmailSender, Limiter, UnitOfWorkFactory


@dataclass(frozen=True)
class CodePolicy:
    key: bytes  # the HMAC key codes are stored under
    ttl_seconds: int = 900
    max_attempts: int = 5  # wrong codes before a code is dead
    verify_limit: Limit = field(default_factory=lambda: Limit("verify", 10, 900))  # per user
    subscribe_limit: Limit = field(default_factory=lambda: Limit("subscribe", 5, 3600))  # per user


@dataclass
class NotifyDeps:
    uow: UnitOfWorkFactory  # users, preferences, codes and the email queue in one transaction
    limiter: Limiter
    directory: Directory
    sender: EmailSender
    codes: CodePolicy
