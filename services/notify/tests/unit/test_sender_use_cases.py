"""The sender loop against the in-memory queue (conftest.py): sent, retried with a doubling and
capped backoff, given up, deferred until expiry, leased to one worker, taken back after a crash,
and served until the queue is empty."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tm_notify.adapters.delivery_store import REDACTED
from tm_notify.domain.sending import Deferred


def due_in(fake, row_id: int) -> float:
    return fake.state.deliveries[row_id].due - fake.state.clock.seconds


def make_due(fake) -> None:
    fake.state.clock.advance(1000)


async def test_a_due_email_is_sent_and_marked_with_the_providers_id(fake) -> None:
    row = fake.queue(user_id=7, subject="Hello", body="Body")
    worker = fake.loop()
    assert await worker.send_due() == 1
    [mail] = fake.sender.sent
    assert (mail.delivery_id, mail.user_id, mail.email, mail.subject, mail.body) == (
        row.id, 7, "user7@example.com", "Hello", "Body",
    )  # fmt: skip
    sent = fake.state.deliveries[row.id]
    assert (sent.status, sent.attempts, sent.claimed_by) == ("sent", 1, None)
    assert sent.provider_message_id == f"ok-{row.id}" and sent.sent_at is not None
    assert sent.body == "Body"  # only codes are scrubbed
    assert worker.counters.sent == 1
    assert await worker.send_due() == 0


async def test_a_sent_verification_email_keeps_no_code(fake) -> None:
    row = fake.queue(kind="verification", body="Your verification code is 123456")
    await fake.loop().send_due()
    assert fake.state.deliveries[row.id].body == REDACTED


async def test_a_failing_send_is_retried_with_doubling_backoff_then_sent(fake) -> None:
    fake.sender.script = [ConnectionError("provider down"), TimeoutError("slow"), "ok"]
    row = fake.queue()
    worker = fake.loop()

    assert await worker.send_due() == 1
    first = fake.state.deliveries[row.id]
    assert (first.status, first.attempts, first.claimed_by) == ("pending", 1, None)
    assert first.last_error == "ConnectionError: provider down"
    assert due_in(fake, row.id) == 10
    assert await worker.send_due() == 0  # not due yet

    fake.state.clock.advance(10)
    await worker.send_due()
    second = fake.state.deliveries[row.id]
    assert (second.status, second.attempts, second.last_error) == ("pending", 2, "TimeoutError: slow")
    assert due_in(fake, row.id) == 20

    fake.state.clock.advance(20)
    await worker.send_due()
    assert (fake.state.deliveries[row.id].status, fake.state.deliveries[row.id].attempts) == ("sent", 3)
    assert len(fake.sender.sent) == 1
    assert (worker.counters.retried, worker.counters.sent) == (2, 1)


async def test_backoff_is_capped(fake) -> None:
    fake.sender.script = [RuntimeError("down")] * 5
    row = fake.queue()
    worker = fake.loop(max_attempts=10)
    delays = []
    for _ in range(5):
        make_due(fake)
        await worker.send_due()
        delays.append(due_in(fake, row.id))
    assert delays == [10, 20, 25, 25, 25]


async def test_after_max_attempts_an_email_is_given_up_and_a_code_is_not_kept(fake) -> None:
    fake.sender.script = [RuntimeError("rejected")] * 3
    row = fake.queue(kind="verification", body="code 123456")
    worker = fake.loop()
    for _ in range(3):
        make_due(fake)
        await worker.send_due()
    failed = fake.state.deliveries[row.id]
    assert (failed.status, failed.attempts, failed.body) == ("failed", 3, REDACTED)
    assert failed.last_error == "RuntimeError: rejected"
    assert (worker.counters.retried, worker.counters.failed) == (2, 1)
    make_due(fake)
    assert await worker.send_due() == 0


async def test_an_expired_email_is_given_up_at_its_first_failure(fake) -> None:
    fake.sender.script = [RuntimeError("down")]
    row = fake.queue(kind="verification", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    await fake.loop().send_due()
    assert (fake.state.deliveries[row.id].status, fake.state.deliveries[row.id].attempts) == ("failed", 1)


async def test_deferred_emails_wait_without_spending_attempts_until_they_expire(fake) -> None:
    fake.sender.script = [Deferred("awaiting confirmation"), Deferred("awaiting confirmation")]
    row = fake.queue(kind="verification", expires_at=datetime.now(UTC) + timedelta(minutes=15))
    worker = fake.loop(defer_seconds=30.0)
    await worker.send_due()
    waiting = fake.state.deliveries[row.id]
    assert (waiting.status, waiting.attempts, waiting.last_error) == ("pending", 0, "awaiting confirmation")
    assert due_in(fake, row.id) == 30 and worker.counters.deferred == 1

    expired = dataclasses.replace(waiting, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    fake.state.deliveries[row.id] = expired
    make_due(fake)
    await worker.send_due()
    gone = fake.state.deliveries[row.id]
    assert (gone.status, gone.attempts, gone.body) == ("failed", 0, REDACTED)
    assert gone.last_error == "expired: awaiting confirmation"
    assert fake.sender.sent == []


async def test_a_failing_email_holds_back_no_other(fake) -> None:
    fake.sender.script = [RuntimeError("this one fails"), "ok"]
    first, second = fake.queue(user_id=1), fake.queue(user_id=2)
    assert await fake.loop().send_due() == 2
    statuses = {row.user_id: row.status for row in fake.queued()}
    assert statuses == {first.user_id: "pending", second.user_id: "sent"}


async def test_a_claimed_email_is_leased_to_its_worker(fake) -> None:
    row = fake.queue()
    async with fake.open_unit() as uow:
        [claimed] = await uow.deliveries.claim("worker-a", 10, 300)
        await uow.commit()
    assert claimed.id == row.id and claimed.attempts == 0
    assert fake.state.deliveries[row.id].claimed_by == "worker-a"
    assert await fake.loop(worker="worker-b").send_due() == 0
    fake.state.clock.advance(300)  # the lease ran out: anyone may take it
    assert await fake.loop(worker="worker-b").send_due() == 1


async def test_a_crash_between_send_and_mark_sends_it_again_after_the_restart(fake) -> None:
    row = fake.queue()
    async with fake.open_unit() as uow:
        await uow.deliveries.claim("worker-a", 10, 300)
        await uow.commit()
    # ...the provider took it, and the process died before marking it.
    assert await fake.loop(worker="worker-b").release_leases() == 0  # not another worker's
    restarted = fake.loop(worker="worker-a")
    assert await restarted.release_leases() == 1
    assert await restarted.send_due() == 1
    assert fake.state.deliveries[row.id].status == "sent"


async def test_serve_takes_back_its_leases_and_sends_batches_until_the_queue_is_empty(fake) -> None:
    rows = [fake.queue(user_id=i) for i in range(1, 6)]
    async with fake.open_unit() as uow:
        await uow.deliveries.claim("worker-a", 1, 300)  # claimed before a crash
        await uow.commit()
    worker = fake.loop(batch_size=2)
    with pytest.raises(fake.wakeups.Stop):
        await worker.serve()
    assert [row.status for row in fake.queued()] == ["sent"] * len(rows)
    assert fake.wakeups.waits == [worker.settings.poll_seconds]  # then waits for a wake-up


async def test_serve_sends_what_a_wake_up_brings(fake) -> None:
    worker = fake.loop()
    fake.wakeups.stop_after = 2
    fake.wakeups.meanwhile = [lambda: fake.queue(user_id=9)]  # queued while the loop waits
    with pytest.raises(fake.wakeups.Stop):
        await worker.serve()
    assert [row.status for row in fake.queued()] == ["sent"]
    assert len(fake.wakeups.waits) == 2
