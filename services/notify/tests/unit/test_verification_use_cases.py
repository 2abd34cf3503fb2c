"""The use cases of address verification against the in-memory unit of work (conftest.py):
subscribe (a code mailed, stored as its digest), verify (right, wrong, expired, used, dead codes)
and the rate limits of both."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from tm_common.errors import InvalidArgument, NotFound, RateLimited, Unavailable
from tm_notify.domain.codes import Verdict, digest
from tm_notify.service import verification

ANN, BOB = 1, 2


def code_in(body: str) -> str:
    found = re.search(r"verification code is (\d{6})", body)
    assert found, body
    return found.group(1)


async def subscribe(fake, user_id: int = ANN) -> str:
    """Subscribe and answer the code of the email queued."""
    await verification.subscribe(fake.deps, user_id)
    return code_in(fake.queued(user_id=user_id, kind="verification")[-1].body)


async def refused(fake, code: str, user_id: int = ANN) -> str:
    """Verify, expecting a 400 on `code`; its message."""
    with pytest.raises(InvalidArgument) as error:
        await verification.verify(fake.deps, user_id, code)
    assert set(error.value.fields) == {"code"}
    return str(error.value.fields["code"])


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_subscribe_queues_a_code_kept_only_as_its_digest(fake) -> None:
    fake.user(ANN, verified=False)
    outcome = await verification.subscribe(fake.deps, ANN)
    assert outcome.email == "user1@example.com"
    assert outcome.message == "verification code sent to user1@example.com"
    [mail] = fake.queued()
    assert (mail.user_id, mail.kind, mail.email) == (ANN, "verification", outcome.email)
    assert mail.subscription_ref is None
    code = code_in(mail.body)
    stored = fake.state.codes[ANN]
    assert stored.digest == digest(fake.policy.key, ANN, code) and code.encode() not in stored.digest
    assert (stored.email, stored.attempts, stored.used_at) == (outcome.email, 0, None)
    assert mail.expires_at == stored.expires_at
    lifetime = stored.expires_at - datetime.now(UTC)
    assert timedelta(seconds=890) < lifetime <= timedelta(seconds=900)
    assert fake.sender.subscribed == [(ANN, outcome.email)]


async def test_with_a_provider_subscription_the_code_waits_for_it(fake) -> None:
    fake.user(ANN, verified=False)
    fake.sender.subscription = "arn:aws:sns:us-east-1:1:notify:abc"
    outcome = await verification.subscribe(fake.deps, ANN)
    assert "confirm the subscription email AWS sent" in outcome.message
    assert fake.queued()[0].subscription_ref == "arn:aws:sns:us-east-1:1:notify:abc"


async def test_a_verified_address_gets_nothing(fake) -> None:
    fake.user(ANN, verified=True)
    outcome = await verification.subscribe(fake.deps, ANN)
    assert outcome.message == "user1@example.com is already verified"
    assert fake.queued() == [] and fake.state.codes == {} and fake.sender.subscribed == []


async def test_a_user_whose_registration_is_not_in_yet_is_taken_from_the_directory(fake) -> None:
    fake.account(ANN)
    await subscribe(fake)
    assert fake.directory.asked == [ANN]
    assert fake.state.users[ANN].email == "user1@example.com"
    assert fake.state.prefs[ANN].email_verified is False
    await subscribe(fake)
    assert fake.directory.asked == [ANN]  # known from then on


async def test_a_user_nobody_knows_is_not_found_and_nothing_is_stored(fake) -> None:
    with pytest.raises(NotFound):
        await verification.subscribe(fake.deps, ANN)
    assert fake.state.users == {} and fake.state.codes == {} and fake.queued() == []


async def test_when_the_provider_is_down_no_code_is_made(fake) -> None:
    fake.user(ANN, verified=False)
    fake.sender.down = True
    with pytest.raises(Unavailable):
        await verification.subscribe(fake.deps, ANN)
    assert fake.state.codes == {} and fake.queued() == []


async def test_the_right_code_verifies_the_address_once(fake) -> None:
    fake.user(ANN, verified=False)
    code = await subscribe(fake)
    outcome = await verification.verify(fake.deps, ANN, f" {code[:3]}-{code[3:]} ")
    assert (outcome.email, outcome.message) == ("user1@example.com", "user1@example.com verified")
    assert fake.state.prefs[ANN].email_verified and fake.state.prefs[ANN].updated_at is not None
    assert fake.state.codes[ANN].used_at is not None
    assert await refused(fake, code) == Verdict.USED.value


async def test_a_wrong_code_counts_and_changes_nothing_else(fake) -> None:
    fake.user(ANN, verified=False)
    code = await subscribe(fake)
    assert await refused(fake, other_than(code)) == Verdict.WRONG.value
    assert fake.state.codes[ANN].attempts == 1
    assert fake.state.prefs[ANN].email_verified is False
    await verification.verify(fake.deps, ANN, code)
    assert fake.state.prefs[ANN].email_verified


async def test_wrong_guesses_kill_the_code(fake) -> None:
    fake.user(ANN, verified=False)
    code = await subscribe(fake)
    for _ in range(fake.policy.max_attempts):
        assert await refused(fake, other_than(code)) == Verdict.WRONG.value
    assert await refused(fake, code) == Verdict.LOCKED.value
    assert fake.state.codes[ANN].attempts == fake.policy.max_attempts
    assert fake.state.prefs[ANN].email_verified is False


async def test_an_expired_code_is_refused_and_not_counted(fake) -> None:
    fake.user(ANN, verified=False)
    code = await subscribe(fake)
    past = datetime.now(UTC) - timedelta(seconds=1)
    fake.state.codes[ANN] = dataclasses.replace(fake.state.codes[ANN], expires_at=past)
    assert await refused(fake, code) == Verdict.EXPIRED.value
    assert fake.state.codes[ANN].attempts == 0 and fake.state.prefs[ANN].email_verified is False


async def test_without_a_code_sent_verify_is_refused(fake) -> None:
    fake.user(ANN, verified=False)
    assert await refused(fake, "123456") == Verdict.NO_CODE.value


@pytest.mark.parametrize("typed", ["", "12345", "12a456", "1234567"])
async def test_a_malformed_code_is_refused_and_not_counted_as_a_guess(fake, typed: str) -> None:
    fake.user(ANN, verified=False)
    await subscribe(fake)
    await refused(fake, typed)
    assert fake.state.codes[ANN].attempts == 0


async def test_a_new_subscribe_replaces_the_previous_code(fake, monkeypatch) -> None:
    fake.user(ANN, verified=False)
    codes = iter(["111111", "222222"])
    monkeypatch.setattr("tm_notify.domain.codes.new_code", lambda: next(codes))
    first = await subscribe(fake)
    second = await subscribe(fake)
    assert await refused(fake, first) == Verdict.WRONG.value
    await verification.verify(fake.deps, ANN, second)
    assert fake.state.prefs[ANN].email_verified
    assert len(fake.queued(kind="verification")) == 2


async def test_one_users_code_does_not_verify_another(fake, monkeypatch) -> None:
    fake.user(ANN, verified=False)
    fake.user(BOB, verified=False)
    codes = iter(["111111", "222222"])
    monkeypatch.setattr("tm_notify.domain.codes.new_code", lambda: next(codes))
    assert await subscribe(fake, ANN) == "111111"
    assert await refused(fake, "111111", BOB) == Verdict.NO_CODE.value
    assert await subscribe(fake, BOB) == "222222"
    assert await refused(fake, "111111", BOB) == Verdict.WRONG.value
    assert not fake.state.prefs[BOB].email_verified and fake.state.codes[ANN].attempts == 0


async def test_subscribing_is_rate_limited_per_user(fake) -> None:
    fake.user(ANN, verified=False)
    fake.user(BOB, verified=False)
    for _ in range(fake.policy.subscribe_limit.max_hits):
        await verification.subscribe(fake.deps, ANN)
    with pytest.raises(RateLimited) as limited:
        await verification.subscribe(fake.deps, ANN)
    assert limited.value.retry_after_seconds > 0
    assert len(fake.queued(user_id=ANN)) == fake.policy.subscribe_limit.max_hits
    await verification.subscribe(fake.deps, BOB)  # another user's budget


async def test_verifying_is_rate_limited_per_user_even_for_the_right_code(fake) -> None:
    fake.user(ANN, verified=False)
    code = await subscribe(fake)
    for _ in range(fake.policy.verify_limit.max_hits):
        await refused(fake, "12a456")  # malformed: spends the limit, not the code
    with pytest.raises(RateLimited):
        await verification.verify(fake.deps, ANN, code)
    assert fake.state.prefs[ANN].email_verified is False
