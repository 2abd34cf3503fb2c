"""The sender loop and the event handler on a real Postgres (a notify schema of their own):
retries with backoff, giving up, deferring, leases and the crash window, one delivery per
(event, recipient)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from taskmanager.events.v1 import events_pb2 as pb
from tm_common.uow import UnitsOfWork
from tm_notify.adapters.delivery_store import REDACTED, DeliveryWakeups
from tm_notify.adapters.senders import LocalLogSender
from tm_notify.adapters.unit_of_work import SqlNotifyUnitOfWork
from tm_notify.domain.deliveries import NewDelivery, OutgoingMail
from tm_notify.domain.sending import Deferred, RetryPolicy
from tm_notify.domain.users import User
from tm_notify.entrypoints.consumer import event_handler
from tm_notify.service.sending import DeliveryLoop, SenderSettings


class ScriptedSender:
    """Answers each send with the next outcome of its script (an exception or a message id)."""

    name = "scripted"

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.sent: list[OutgoingMail] = []

    async def subscribe(self, user_id: int, email: str) -> str | None:
        return None

    async def send(self, mail: OutgoingMail) -> str:
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        self.sent.append(mail)
        return f"{outcome}-{mail.delivery_id}"


def loop(db, sender, worker: str = "worker-a", **retry) -> DeliveryLoop:
    policy = RetryPolicy(**{"max_attempts": 3, "base_seconds": 10.0, "max_seconds": 25.0, **retry})
    settings = SenderSettings(worker=worker, retry=policy, lease_seconds=300)
    return DeliveryLoop(UnitsOfWork(SqlNotifyUnitOfWork, db), sender, settings, DeliveryWakeups(db))


async def queue(
    db, *, kind: str = "task.shared", expires_at: datetime | None = None, user_id: int = 7
) -> None:
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        await uow.deliveries.enqueue(
            [
                NewDelivery(
                    event_id=uuid.uuid4(),
                    user_id=user_id,
                    kind=kind,
                    email=f"user{user_id}@example.com",
                    subject="subject",
                    body="code 123456" if kind == "verification" else "body",
                    expires_at=expires_at,
                )
            ],
        )
        await uow.commit()


def row(sql) -> dict:
    [found] = sql("SELECT *, extract(epoch FROM next_attempt_at - now()) AS due_in FROM deliveries")
    return found


def make_due(sql) -> None:
    sql("UPDATE deliveries SET next_attempt_at = now()")


async def test_a_failing_send_is_retried_with_doubling_backoff_then_sent(loop_db, loop_sql) -> None:
    sender = ScriptedSender(ConnectionError("provider down"), TimeoutError("slow"), "ok")
    worker = loop(loop_db, sender)
    await queue(loop_db)

    assert await worker.send_due() == 1
    first = row(loop_sql)
    assert (first["status"], first["attempts"], first["claimed_by"]) == ("pending", 1, None)
    assert "provider down" in first["last_error"]
    assert 8 < first["due_in"] <= 10
    assert await worker.send_due() == 0  # not due yet

    make_due(loop_sql)
    await worker.send_due()
    second = row(loop_sql)
    assert (second["status"], second["attempts"]) == ("pending", 2)
    assert 18 < second["due_in"] <= 20 and "slow" in second["last_error"]

    make_due(loop_sql)
    await worker.send_due()
    sent = row(loop_sql)
    assert (sent["status"], sent["attempts"]) == ("sent", 3)
    assert sent["provider_message_id"] == f"ok-{sent['id']}" and sent["sent_at"] is not None
    assert len(sender.sent) == 1


async def test_after_max_attempts_an_email_is_given_up_and_a_code_is_not_kept(loop_db, loop_sql) -> None:
    worker = loop(loop_db, ScriptedSender(*[RuntimeError("rejected")] * 3))
    await queue(loop_db, kind="verification")
    for _ in range(3):
        make_due(loop_sql)
        await worker.send_due()
    failed = row(loop_sql)
    assert (failed["status"], failed["attempts"]) == ("failed", 3)
    assert failed["body"] == REDACTED
    make_due(loop_sql)
    assert await worker.send_due() == 0


async def test_backoff_is_capped(loop_db, loop_sql) -> None:
    worker = loop(loop_db, ScriptedSender(*[RuntimeError("down")] * 5), max_attempts=10)
    await queue(loop_db)
    for _ in range(5):
        make_due(loop_sql)
        await worker.send_due()
    assert 23 < row(loop_sql)["due_in"] <= 25  # 10, 20, then 25 s at most


async def test_a_failing_email_holds_back_no_other(loop_db, loop_sql) -> None:
    sender = ScriptedSender(RuntimeError("this one fails"), "ok")
    await queue(loop_db, user_id=1)
    await queue(loop_db, user_id=2)
    assert await loop(loop_db, sender).send_due() == 2
    rows = {r["user_id"]: r["status"] for r in loop_sql("SELECT user_id, status FROM deliveries")}
    assert rows == {1: "pending", 2: "sent"}


async def test_deferred_emails_wait_without_spending_attempts_until_they_expire(loop_db, loop_sql) -> None:
    sender = ScriptedSender(Deferred("awaiting confirmation"), Deferred("awaiting confirmation"))
    worker = loop(loop_db, sender, defer_seconds=30.0)
    await queue(loop_db, kind="verification", expires_at=datetime.now(UTC) + timedelta(minutes=15))
    await worker.send_due()
    waiting = row(loop_sql)
    assert (waiting["status"], waiting["attempts"]) == ("pending", 0)
    assert 28 < waiting["due_in"] <= 30 and "confirmation" in waiting["last_error"]

    loop_sql("UPDATE deliveries SET next_attempt_at = now(), expires_at = now() - interval '1 second'")
    await worker.send_due()
    gone = row(loop_sql)
    assert (gone["status"], gone["attempts"], gone["body"]) == ("failed", 0, REDACTED)
    assert "expired" in gone["last_error"]


async def test_a_claimed_email_is_leased_to_its_worker(loop_db, loop_sql) -> None:
    await queue(loop_db)
    async with UnitsOfWork(SqlNotifyUnitOfWork, loop_db)() as uow:
        [claimed] = await uow.deliveries.claim("worker-a", 10, 300)
        await uow.commit()
    assert row(loop_sql)["claimed_by"] == "worker-a"
    other = ScriptedSender()
    assert await loop(loop_db, other, worker="worker-b").send_due() == 0
    assert claimed.attempts == 0 and other.sent == []


async def test_a_crash_between_send_and_mark_resends_once_and_the_local_log_keeps_one_copy(
    loop_db, loop_sql
) -> None:
    """The documented window: the provider took the email, the process died before marking it."""
    await queue(loop_db)
    sender = LocalLogSender(loop_db)
    async with UnitsOfWork(SqlNotifyUnitOfWork, loop_db)() as uow:
        [claimed] = await uow.deliveries.claim("worker-a", 10, 300)
        await uow.commit()
    await sender.send(
        OutgoingMail(claimed.id, claimed.user_id, claimed.kind, claimed.email, claimed.subject, claimed.body)
    )  # ...and the process dies here

    restarted = loop(loop_db, sender, worker="worker-a")
    assert await restarted.release_leases() == 1
    assert await restarted.send_due() == 1
    assert row(loop_sql)["status"] == "sent"
    assert loop_sql("SELECT delivery_id FROM mail_log") == [{"delivery_id": claimed.id}]


def _event(event_type: str, actor: int, audience: list[int], **payload) -> pb.EventEnvelope:
    event = pb.EventEnvelope(
        event_id=str(uuid.uuid4()),
        type=event_type,
        actor_user_id=actor,
        actor_username="ann",
        task_id=5,
        task_owner_user_id=actor,
        task_title="Plan",
        audience_user_ids=audience,
        schema_version=1,
        producer="tasks",
        occurred_at=Timestamp(seconds=1_800_000_000),
    )
    for name, value in payload.items():
        getattr(event, name).CopyFrom(value)
    return event


async def test_the_handler_queues_one_email_per_recipient_however_often_it_runs(loop_db, loop_sql) -> None:
    async with UnitsOfWork(SqlNotifyUnitOfWork, loop_db)() as uow:
        for user_id, verified in ((101, True), (102, True), (103, False)):
            await uow.users.remember(User(user_id, f"u{user_id}", f"u{user_id}@example.com"))
            await uow.users.create_defaults(user_id)
            if verified:
                await uow.users.mark_verified(user_id)
        await uow.commit()
    comment = pb.CommentAdded(comment=pb.CommentSnapshot(id=1, task_id=5, user_id=101, content="hi"))
    event = _event("comment.added", 101, [101, 102, 103, 104], comment_added=comment)
    handle = event_handler(SqlNotifyUnitOfWork.joining)
    for _ in range(2):
        async with loop_db.transaction() as conn:
            await handle(conn, event)
    rows = loop_sql("SELECT user_id, kind, email FROM deliveries WHERE event_id = %s", (event.event_id,))
    # 101 acted, 103 is unverified, 104 is unknown to notify.
    assert rows == [{"user_id": 102, "kind": "comment.added", "email": "u102@example.com"}]
