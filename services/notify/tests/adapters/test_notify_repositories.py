"""The notify service's SQL adapters against a real Postgres (no stack): users and preferences,
verification codes (and their row lock), the delivery queue (once per (event, recipient), claims
with a lease that skips rows being claimed, marks, scrubbing of codes, leases taken back), the
unit of work's commit, rollback and joining, the wake-ups of the insert trigger, the local
delivery log, and the consumer's handler in the consumer's transaction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from taskmanager.events.v1 import events_pb2 as pb
from tm_common.db import Database
from tm_common.events import envelope
from tm_common.uow import UnitsOfWork
from tm_notify.adapters.delivery_store import REDACTED, DeliveryWakeups
from tm_notify.adapters.senders import LocalLogSender
from tm_notify.adapters.unit_of_work import SqlNotifyUnitOfWork
from tm_notify.domain.codes import PendingCode
from tm_notify.domain.deliveries import NewDelivery
from tm_notify.domain.preferences import Preferences
from tm_notify.domain.users import User
from tm_notify.entrypoints.consumer import event_handler

ANN, BOB, CAROL = 1, 2, 3
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def rows(db: Database, query: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        return [dict(row._mapping) for row in await conn.execute(text(query))]


async def remember(db: Database, *user_ids: int, verified: bool = False) -> None:
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        for user_id in user_ids:
            await uow.users.remember(User(user_id, f"user{user_id}", f"user{user_id}@example.com"))
            await uow.users.create_defaults(user_id)
            if verified:
                await uow.users.mark_verified(user_id)
        await uow.commit()


def new(user_id: int = ANN, kind: str = "task.shared", **fields: Any) -> NewDelivery:
    values: dict[str, Any] = {"event_id": uuid.uuid4(), "email": f"user{user_id}@example.com"}
    values |= {"subject": "subject", "body": "code 123456" if kind == "verification" else "body"}
    return NewDelivery(user_id=user_id, kind=kind, **(values | fields))


async def enqueue(db: Database, *items: NewDelivery) -> int:
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        count = await uow.deliveries.enqueue(items)
        await uow.commit()
    return count


async def queue(db: Database) -> list[dict[str, Any]]:
    return await rows(
        db,
        "SELECT *, extract(epoch FROM next_attempt_at - now()) AS due_in FROM deliveries ORDER BY id",
    )


# Users and preferences


async def test_a_remembered_user_is_kept_and_a_newer_copy_replaces_it(db: Database) -> None:
    units = UnitsOfWork(SqlNotifyUnitOfWork, db)
    async with units(read_only=True) as uow:
        assert await uow.users.get(ANN) is None
    await remember(db, ANN)
    async with units() as uow:
        await uow.users.remember(User(ANN, "ann", "new@example.com"))
        await uow.commit()
    async with units(read_only=True) as uow:
        assert await uow.users.get(ANN) == User(ANN, "ann", "new@example.com")


async def test_preferences_start_from_the_defaults_which_a_second_create_leaves_alone(db: Database) -> None:
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        assert await uow.users.preferences_of(ANN) == Preferences(ANN)  # made on first read
        await uow.users.change(ANN, {"task_completed": False})
        await uow.users.create_defaults(ANN)
        prefs = await uow.users.preferences_of(ANN)
        await uow.commit()
    assert prefs.task_completed is False and prefs.updated_at is not None


async def test_a_change_sets_only_its_switches_with_or_without_a_row(db: Database) -> None:
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        fresh = await uow.users.change(ANN, {"email_enabled": False})
        await uow.users.mark_verified(BOB)  # no row yet either
        again = await uow.users.change(ANN, {"task_due_soon": True})
        bob = await uow.users.preferences_of(BOB)
        await uow.commit()
    assert fresh == Preferences(ANN, email_enabled=False, updated_at=fresh.updated_at)
    assert again == Preferences(ANN, email_enabled=False, task_due_soon=True, updated_at=again.updated_at)
    assert bob.email_verified and bob.updated_at is not None


async def test_contacts_are_the_known_users_with_their_preferences_by_id(db: Database) -> None:
    await remember(db, CAROL, ANN, verified=True)
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        await uow.users.change(CAROL, {"email_enabled": False})
        await uow.commit()
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)(read_only=True) as uow:
        found = await uow.users.contacts([CAROL, 99, ANN])
        assert await uow.users.contacts([]) == []
    assert [(c.user_id, c.username, c.email) for c in found] == [
        (ANN, "user1", "user1@example.com"),
        (CAROL, "user3", "user3@example.com"),
    ]
    assert found[0].preferences.email_verified and not found[1].preferences.email_enabled


# Verification codes


async def test_a_new_code_replaces_the_old_one_with_a_clean_slate(db: Database) -> None:
    units = UnitsOfWork(SqlNotifyUnitOfWork, db)
    async with units() as uow:
        assert await uow.codes.locked(ANN) is None
        await uow.codes.replace(ANN, b"old", "a@example.com", NOW, NOW + timedelta(minutes=15))
        await uow.codes.count_wrong_guess(ANN)
        await uow.codes.mark_used(ANN, NOW)
        used = await uow.codes.locked(ANN)
        await uow.codes.replace(ANN, b"new", "b@example.com", NOW, NOW + timedelta(minutes=30))
        await uow.commit()
    assert used == PendingCode(b"old", "a@example.com", NOW + timedelta(minutes=15), 1, NOW)
    async with units() as uow:
        assert await uow.codes.locked(ANN) == PendingCode(
            b"new", "b@example.com", NOW + timedelta(minutes=30), 0, None
        )


async def test_a_code_is_locked_until_the_guess_that_holds_it_commits(db: Database) -> None:
    units = UnitsOfWork(SqlNotifyUnitOfWork, db)
    async with units() as uow:
        await uow.codes.replace(ANN, b"digest", "a@example.com", NOW, NOW + timedelta(minutes=15))
        await uow.commit()

    async def second_guess() -> int:
        async with units() as uow:
            code = await uow.codes.locked(ANN)
            await uow.commit()
        assert code is not None
        return code.attempts

    async with units() as first:
        await first.codes.locked(ANN)
        waiting = asyncio.create_task(second_guess())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # queued behind the first guess's lock
        await first.codes.count_wrong_guess(ANN)
        await first.commit()
    assert await asyncio.wait_for(waiting, 5) == 1  # and it saw the first guess counted


# The delivery queue


async def test_an_email_is_queued_once_per_event_and_recipient(db: Database) -> None:
    event_id = uuid.uuid4()
    assert await enqueue(db, new(ANN, event_id=event_id), new(BOB, event_id=event_id)) == 2
    assert await enqueue(db, new(ANN, event_id=event_id), new(CAROL, event_id=event_id)) == 1
    assert await enqueue(db) == 0
    queued = await queue(db)
    assert [(r["user_id"], r["status"], r["attempts"]) for r in queued] == [
        (ANN, "pending", 0),
        (BOB, "pending", 0),
        (CAROL, "pending", 0),
    ]
    assert all(r["due_in"] <= 0 for r in queued)


async def test_a_claim_takes_the_due_emails_oldest_first_and_leases_them(db: Database) -> None:
    await enqueue(db, new(ANN), new(BOB), new(CAROL))
    async with db.transaction() as conn:
        later = "UPDATE deliveries SET next_attempt_at = now() + interval '1 hour' WHERE id = 1"
        earlier = "UPDATE deliveries SET next_attempt_at = now() - interval '1 minute' WHERE id = 3"
        await conn.execute(text(later))
        await conn.execute(text(earlier))
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        claimed = await uow.deliveries.claim("worker-a", 1, 300)
        more = await uow.deliveries.claim("worker-a", 10, 300)
        await uow.commit()
    assert [d.user_id for d in claimed] == [CAROL]  # the longest due
    assert [d.user_id for d in more] == [BOB]  # not 1 (not due), not 3 (leased)
    assert (more[0].kind, more[0].email, more[0].attempts, more[0].event_id) == (
        "task.shared", "user2@example.com", 0, str(more[0].event_id),
    )  # fmt: skip
    leased = {r["id"]: r for r in await queue(db)}
    assert leased[2]["claimed_by"] == leased[3]["claimed_by"] == "worker-a"
    assert 295 < leased[2]["due_in"] <= 300 and leased[1]["claimed_by"] is None


async def test_a_claim_skips_the_rows_another_worker_is_claiming(db: Database) -> None:
    await enqueue(db, new(ANN), new(BOB))
    units = UnitsOfWork(SqlNotifyUnitOfWork, db)
    async with units() as first:
        [mine] = await first.deliveries.claim("worker-a", 1, 300)
        async with units() as second:  # while the first has not committed
            theirs = await asyncio.wait_for(second.deliveries.claim("worker-b", 10, 300), 5)
            await second.commit()
        await first.commit()
    assert [mine.user_id, *(d.user_id for d in theirs)] == [ANN, BOB]


async def test_marks_record_the_outcome_and_scrub_codes_once_out(db: Database) -> None:
    await enqueue(db, new(ANN), new(BOB, kind="verification"), new(CAROL, kind="verification"))
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        await uow.deliveries.claim("worker-a", 10, 300)
        await uow.deliveries.mark_sent(1, "m-1")
        await uow.deliveries.mark_sent(2, "m-2")
        await uow.deliveries.give_up(3, "rejected")
        await uow.deliveries.retry_later(1, 10, "too late")  # only pending rows are marked
        await uow.commit()
    sent, code, failed = await queue(db)
    assert (sent["status"], sent["attempts"], sent["provider_message_id"]) == ("sent", 1, "m-1")
    assert sent["body"] == "body"
    assert sent["claimed_by"] is None and sent["sent_at"] is not None and sent["last_error"] is None
    assert (code["status"], code["body"]) == ("sent", REDACTED)
    assert (failed["status"], failed["attempts"], failed["last_error"], failed["body"]) == (
        "failed", 1, "rejected", REDACTED,
    )  # fmt: skip


async def test_retry_defer_and_expiry(db: Database) -> None:
    await enqueue(db, new(ANN), new(BOB), new(CAROL, kind="verification"))
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        await uow.deliveries.claim("worker-a", 10, 300)
        await uow.deliveries.retry_later(1, 20, "down")
        await uow.deliveries.defer(2, 30, "awaiting confirmation")
        await uow.deliveries.give_up(3, "expired: awaiting confirmation", counts_attempt=False)
        await uow.commit()
    retried, deferred, expired = await queue(db)
    assert (retried["status"], retried["attempts"], retried["last_error"]) == ("pending", 1, "down")
    assert 18 < retried["due_in"] <= 20 and retried["claimed_by"] is None
    assert (deferred["status"], deferred["attempts"], deferred["claimed_by"]) == ("pending", 0, None)
    assert 28 < deferred["due_in"] <= 30
    assert (expired["status"], expired["attempts"], expired["body"]) == ("failed", 0, REDACTED)


async def test_a_restarted_worker_takes_back_only_its_own_leases(db: Database) -> None:
    await enqueue(db, new(ANN), new(BOB), new(CAROL))
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        await uow.deliveries.claim("worker-a", 2, 300)
        await uow.deliveries.claim("worker-b", 1, 300)
        await uow.deliveries.mark_sent(1, "m-1")
        await uow.commit()
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        assert await uow.deliveries.release_leases("worker-a") == 1  # the sent one is not a lease
        await uow.commit()
    released, other = (await queue(db))[1:]
    assert released["claimed_by"] is None and released["due_in"] <= 0
    assert other["claimed_by"] == "worker-b"


# The unit of work


async def test_leaving_without_commit_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
            await uow.deliveries.enqueue([new(ANN)])
            await uow.users.change(ANN, {"email_enabled": False})
            raise RuntimeError("a rule refused it")
    assert await queue(db) == [] and await rows(db, "SELECT * FROM preferences") == []


async def test_a_read_only_unit_of_work_cannot_commit(db: Database) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        async with UnitsOfWork(SqlNotifyUnitOfWork, db)(read_only=True) as uow:
            await uow.users.get(ANN)
            await uow.commit()


async def test_a_joined_unit_of_work_lives_and_dies_with_its_owners_transaction(db: Database) -> None:
    async with db.transaction() as conn:
        async with SqlNotifyUnitOfWork.joining(conn) as uow:
            await uow.deliveries.enqueue([new(ANN)])
            await uow.commit()
        assert conn.in_transaction()  # committing the unit of work left it to the owner
    assert len(await queue(db)) == 1
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            async with SqlNotifyUnitOfWork.joining(conn) as uow:
                await uow.deliveries.enqueue([new(BOB)])
                await uow.commit()
            raise RuntimeError("the consumer's batch failed")
    assert len(await queue(db)) == 1


async def test_the_consumers_handler_queues_once_per_recipient_however_often_it_runs(db: Database) -> None:
    await remember(db, ANN, BOB, verified=True)
    await remember(db, CAROL)
    handle = event_handler(SqlNotifyUnitOfWork.joining)
    comment = pb.CommentAdded(comment=pb.CommentSnapshot(id=1, task_id=5, user_id=ANN, content="hi"))
    audience = [ANN, BOB, CAROL, 4]
    event = envelope(comment, "tasks", ANN, actor_username="ann", task_title="Plan", audience=audience)
    registered = envelope(pb.UserRegistered(user_id=5, username="eve", email="eve@example.com"), "auth", 5)
    for _ in range(2):
        async with db.transaction() as conn:
            await handle(conn, event)
            await handle(conn, registered)
    queued = await queue(db)
    # ANN acted, CAROL is unverified, 4 is unknown to notify.
    assert [(r["user_id"], r["kind"], r["email"], str(r["event_id"])) for r in queued] == [
        (BOB, "comment.added", "user2@example.com", event.event_id)
    ]
    assert "hi" in queued[0]["body"]
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)(read_only=True) as uow:
        assert await uow.users.get(5) == User(5, "eve", "eve@example.com")
        assert await uow.users.contacts([5]) != []


# Wake-ups and the local delivery log


async def test_queueing_wakes_the_sender(db: Database) -> None:
    async with DeliveryWakeups(db).listening() as waiter:
        await waiter.wait(0.05)  # nothing queued: the timeout
        started = asyncio.get_running_loop().time()
        await enqueue(db, new(ANN))
        await waiter.wait(10)
        assert asyncio.get_running_loop().time() - started < 5


async def test_the_local_log_keeps_one_copy_per_delivery(db: Database) -> None:
    await enqueue(db, new(ANN))
    async with UnitsOfWork(SqlNotifyUnitOfWork, db)() as uow:
        [claimed] = await uow.deliveries.claim("worker-a", 1, 300)
        await uow.commit()
    sender = LocalLogSender(db)
    assert await sender.subscribe(ANN, "user1@example.com") is None
    for _ in range(2):  # a resend after a crash
        assert await sender.send(claimed.mail()) == f"local:{claimed.id}"
    logged = await rows(db, "SELECT delivery_id, user_id, kind, email, subject, body FROM mail_log")
    assert logged == [
        {"delivery_id": claimed.id, "user_id": ANN, "kind": "task.shared", "email": "user1@example.com",
         "subject": "subject", "body": "body"}
    ]  # fmt: skip
