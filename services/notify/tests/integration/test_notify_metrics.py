"""notify's metrics on a real Postgres (a notify schema of its own): the send queue by state, as
its sampler reads it, and the outcome of each send, as the sender loop marks it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from tm_common.uow import UnitsOfWork
from tm_notify.adapters.delivery_store import DeliveryQueueSampler, DeliveryWakeups
from tm_notify.adapters.unit_of_work import SqlNotifyUnitOfWork
from tm_notify.domain.deliveries import NewDelivery, OutgoingMail
from tm_notify.domain.sending import Deferred, RetryPolicy
from tm_notify.service.sending import DeliveryLoop, SenderSettings


class ScriptedSender:
    """Answers each send with the next outcome of its script (an exception or a message id)."""

    name = "scripted"

    def __init__(self, *script: object) -> None:
        self.script = list(script)

    async def subscribe(self, user_id: int, email: str) -> str | None:
        return None

    async def send(self, mail: OutgoingMail) -> str:
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        return f"{outcome}-{mail.delivery_id}"


def sender_loop(db, sender, max_attempts: int = 3) -> DeliveryLoop:
    policy = RetryPolicy(max_attempts=max_attempts, base_seconds=10.0, max_seconds=25.0)
    settings = SenderSettings(worker="metrics-worker", retry=policy, lease_seconds=300)
    return DeliveryLoop(UnitsOfWork(SqlNotifyUnitOfWork, db), sender, settings, DeliveryWakeups(db))


async def queue(db, user_id: int, expires_at: datetime | None = None) -> None:
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        await uow.deliveries.enqueue(
            [
                NewDelivery(
                    event_id=uuid.uuid4(),
                    user_id=user_id,
                    kind="task.shared",
                    email=f"user{user_id}@example.com",
                    subject="subject",
                    body="body",
                    expires_at=expires_at,
                )
            ]
        )
        await uow.commit()


def queued(state: str) -> float | None:
    return REGISTRY.get_sample_value("tm_notify_queue_emails", {"state": state})


def emails(outcome: str) -> float:
    return REGISTRY.get_sample_value("tm_notify_emails_total", {"outcome": outcome}) or 0.0


def make_due(sql) -> None:
    sql("UPDATE deliveries SET next_attempt_at = now()")


async def test_the_queue_is_measured_by_state(loop_db, loop_sql) -> None:
    sampler = DeliveryQueueSampler(loop_db)
    await sampler.sample()
    assert [queued(s) for s in ("queued", "retrying", "sent", "failed")] == [0, 0, 0, 0]

    for user_id in range(1, 10):
        await queue(loop_db, user_id)
    loop_sql("UPDATE deliveries SET attempts = 1 WHERE user_id IN (2, 3)")  # waiting to retry
    loop_sql("UPDATE deliveries SET status = 'sent', attempts = 1 WHERE user_id IN (4, 5, 6)")
    loop_sql("UPDATE deliveries SET status = 'failed', attempts = 3 WHERE user_id IN (7, 8)")
    await sampler.sample()
    assert [queued(s) for s in ("queued", "retrying", "sent", "failed")] == [2, 2, 3, 2]

    # Sent and failed emails queued over an hour ago are no longer counted; waiting ones are.
    loop_sql("UPDATE deliveries SET created_at = now() - interval '2 hours' WHERE user_id <= 6")
    await sampler.sample()
    assert [queued(s) for s in ("queued", "retrying", "sent", "failed")] == [2, 2, 0, 2]


async def test_a_retry_a_send_and_a_final_failure_are_counted(loop_db, loop_sql) -> None:
    before = {outcome: emails(outcome) for outcome in ("sent", "retried", "failed")}
    worker = sender_loop(loop_db, ScriptedSender(ConnectionError("provider down"), "ok"))
    await queue(loop_db, 1)
    assert await worker.send_due() == 1
    assert [emails(o) - before[o] for o in ("sent", "retried", "failed")] == [0, 1, 0]
    make_due(loop_sql)
    assert await worker.send_due() == 1
    assert [emails(o) - before[o] for o in ("sent", "retried", "failed")] == [1, 1, 0]

    giving_up = sender_loop(loop_db, ScriptedSender(RuntimeError("rejected")), max_attempts=1)
    await queue(loop_db, 2)
    assert await giving_up.send_due() == 1
    assert [emails(o) - before[o] for o in ("sent", "retried", "failed")] == [1, 1, 1]

    # An email the provider could never take before it expired fails for good, without an attempt.
    expiring = sender_loop(loop_db, ScriptedSender(Deferred("awaiting confirmation")))
    await queue(loop_db, 3, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await expiring.send_due() == 1
    assert [emails(o) - before[o] for o in ("sent", "retried", "failed")] == [1, 1, 2]

    await DeliveryQueueSampler(loop_db).sample()
    assert [queued(s) for s in ("queued", "retrying", "sent", "failed")] == [0, 0, 1, 2]
