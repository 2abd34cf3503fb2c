"""Use cases of address verification: send a one-time code, check it.

A code is random (6 digits), stored only as an HMAC under the server's key, lives
`ttl_seconds`, works once, and dies after `max_attempts` wrong guesses; each user also has a
Redis limit on verify and on subscribe calls (429 with Retry-After)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tm_common.errors import InvalidArgument, NotFound
from tm_notify.adapters import code_store, delivery_store, user_store
from tm_notify.adapters.delivery_store import NewDelivery
from tm_notify.domain import codes
from tm_notify.domain.codes import Verdict
from tm_notify.domain.notifications import VERIFICATION, verification_mail
from tm_notify.service.deps import NotifyDeps


@dataclass(frozen=True)
class Outcome:
    message: str
    email: str


async def _known_user(deps: NotifyDeps, user_id: int) -> tuple[str, str]:
    """(username, email) from our copy, or from the auth service if its event is not in yet."""
    async with deps.db.read() as conn:
        known = await user_store.user(conn, user_id)
    if known is not None:
        return known
    found = await deps.directory.by_id(user_id)
    if found is None:
        raise NotFound(f"user {user_id} not found")
    async with deps.db.transaction() as conn:
        await user_store.remember_user(conn, found.id, found.username, found.email)
        await user_store.create_defaults(conn, found.id)
    return found.username, found.email


async def subscribe(deps: NotifyDeps, user_id: int) -> Outcome:
    """Subscribe the account's address with the provider and send it a new code (the previous
    code, if any, stops working). An address already verified gets nothing."""
    await deps.limiter.hit(deps.codes.subscribe_limit, str(user_id))
    _, email = await _known_user(deps, user_id)
    async with deps.db.transaction() as conn:
        prefs = await user_store.preferences_of(conn, user_id)
    if prefs.email_verified:
        return Outcome(f"{email} is already verified", email)
    # Asked before the transaction: a slow provider must not hold a connection.
    subscription = await deps.sender.subscribe(user_id, email)
    code = codes.new_code()
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=deps.codes.ttl_seconds)
    mail = verification_mail(code, deps.codes.ttl_seconds // 60)
    async with deps.db.transaction() as conn:
        await code_store.replace(
            conn, user_id, codes.digest(deps.codes.key, user_id, code), email, now, expires_at
        )
        await delivery_store.enqueue(
            conn,
            [
                NewDelivery(
                    event_id=uuid.uuid4(),
                    user_id=user_id,
                    kind=VERIFICATION,
                    email=email,
                    subject=mail.subject,
                    body=mail.body,
                    subscription_ref=subscription,
                    expires_at=expires_at,
                )
            ],
        )
    if subscription is not None:  # SNS mails nothing to a subscription its owner has not confirmed
        return Outcome(f"confirm the subscription email AWS sent to {email}; the code follows", email)
    return Outcome(f"verification code sent to {email}", email)


async def verify(deps: NotifyDeps, user_id: int, code: str) -> Outcome:
    """email_verified becomes true for the right code; anything else is a 400 that changes
    nothing but the count of wrong guesses."""
    await deps.limiter.hit(deps.codes.verify_limit, str(user_id))
    given = codes.digest(deps.codes.key, user_id, codes.given_code(code))
    async with deps.db.transaction() as conn:
        pending = await code_store.locked(conn, user_id)
        verdict = codes.check(pending, given, datetime.now(UTC), deps.codes.max_attempts)
        if verdict is Verdict.WRONG:
            await code_store.count_wrong_guess(conn, user_id)
        elif verdict is Verdict.OK:
            await code_store.mark_used(conn, user_id, datetime.now(UTC))
            await user_store.mark_verified(conn, user_id)
    # Raised after the commit, so that a wrong guess is counted.
    if verdict is not Verdict.OK or pending is None:
        raise InvalidArgument.for_field("code", verdict.value)
    return Outcome(f"{pending.email} verified", pending.email)
