"""Use cases of address verification: send a one-time code, check it.

A code is random (6 digits), stored only as an HMAC under the server's key, lives
`ttl_seconds`, works once, and dies after `max_attempts` wrong guesses; each user also has a
Redis limit on verify and on subscribe calls (429 with Retry-After)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tm_common.errors import InvalidArgument, NotFound
from tm_notify.domain import codes
from tm_notify.domain.codes import Verdict
from tm_notify.domain.deliveries import NewDelivery
from tm_notify.domain.notifications import VERIFICATION, verification_mail
from tm_notify.domain.users import User
from tm_notify.service.deps import NotifyDeps


@dataclass(frozen=True)
class Outcome:
    message: str
    email: str


async def _known_user(deps: NotifyDeps, user_id: int) -> User:
    """Our copy of the user, or the auth service's if its event is not in yet (then kept)."""
    async with deps.uow(read_only=True) as uow:
        known = await uow.users.get(user_id)
    if known is not None:
        return known
    found = await deps.directory.by_id(user_id)
    if found is None:
        raise NotFound(f"user {user_id} not found")
    user = User(found.id, found.username, found.email)
    async with deps.uow() as uow:
        await uow.users.remember(user)
        await uow.users.create_defaults(user.user_id)
        await uow.commit()
    return user


async def subscribe(deps: NotifyDeps, user_id: int) -> Outcome:
    """Subscribe the account's address with the provider and send it a new code (the previous
    code, if any, stops working). An address already verified gets nothing."""
    await deps.limiter.hit(deps.codes.subscribe_limit, str(user_id))
    email = (await _known_user(deps, user_id)).email
    async with deps.uow() as uow:
        prefs = await uow.users.preferences_of(user_id)
        await uow.commit()
    if prefs.email_verified:
        return Outcome(f"{email} is already verified", email)
    # Asked before the transaction: a slow provider must not hold a connection.
    subscription = await deps.sender.subscribe(user_id, email)
    code = codes.new_code()
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=deps.codes.ttl_seconds)
    mail = verification_mail(code, deps.codes.ttl_seconds // 60)
    async with deps.uow() as uow:
        await uow.codes.replace(user_id, codes.digest(deps.codes.key, user_id, code), email, now, expires_at)
        await uow.deliveries.enqueue(
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
            ]
        )
        await uow.commit()
    if subscription is not None:  # SNS mails nothing to a subscription its owner has not confirmed
        return Outcome(f"confirm the subscription email AWS sent to {email}; the code follows", email)
    return Outcome(f"verification code sent to {email}", email)


async def verify(deps: NotifyDeps, user_id: int, code: str) -> Outcome:
    """email_verified becomes true for the right code; anything else is a 400 that changes
    nothing but the count of wrong guesses."""
    await deps.limiter.hit(deps.codes.verify_limit, str(user_id))
    given = codes.digest(deps.codes.key, user_id, codes.given_code(code))
    async with deps.uow() as uow:
        pending = await uow.codes.locked(user_id)
        verdict = codes.check(pending, given, datetime.now(UTC), deps.codes.max_attempts)
        if verdict is Verdict.WRONG:
            await uow.codes.count_wrong_guess(user_id)
        elif verdict is Verdict.OK:
            await uow.codes.mark_used(user_id, datetime.now(UTC))
            await uow.users.mark_verified(user_id)
        await uow.commit()
    # Raised after the commit, so that a wrong guess is counted.
    if verdict is not Verdict.OK or pending is None:
        raise InvalidArgument.for_field("code", verdict.value)
    return Outcome(f"{pending.email} verified", pending.email)
