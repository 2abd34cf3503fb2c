"""Due-soon reminders through Envoy: the tasks service's scheduler sends task.due_soon once per
task and due date when the due date comes within its window (the stack's: the default day, scanned
twice a second, conftest.py), and notify emails the owner and the sharees who turned
task_due_soon on and verified their address. Answers of "none" are settled by a later reminder
of a marker task: the scheduler sends every owed reminder of a scan, oldest due date first, in
one transaction per batch, so once the marker's is on the stream, anything owed before it is too."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis

from support.accounts import Account, new_account
from support.events import event_of_type, task_events
from support.notify import mail_log, recipients_of, set_notify_preferences, verified_account
from support.polling import wait_until
from support.sharing import share_task
from support.tasks import create_task
from tm_common.db import Database
from tm_common.events import decode
from tm_devstack.services import SERVICES
from tm_tasks.bootstrap import due_soon_scheduler
from tm_tasks.config import TasksSettings

DUE_SOON = "task.due_soon"
FAR = "2099-12-31"
# The two-scheduler test: waves of tasks at random moments, so that each wave may go to either
# scheduler (or be split between them).
WAVES = 12


def today() -> date:
    return datetime.now(UTC).date()


def reminder_account(http: httpx.Client, stack: Any) -> Account:
    """Verified, with due-soon reminders turned on (they are off by default)."""
    account = verified_account(http, stack)
    assert set_notify_preferences(http, account, task_due_soon=True)["task_due_soon"] is True
    return account


def set_due(http: httpx.Client, account: Account, task_id: int, due: str | None) -> None:
    response = http.patch(f"/tasks/{task_id}", json={"due_date": due}, headers=account.headers)
    assert response.status_code == 200, response.text


def reminders(stack: Any, task_id: int) -> list[Any]:
    return [event for event in task_events(stack.redis_url, task_id) if event.type == DUE_SOON]


def settle(http: httpx.Client, stack: Any, account: Account) -> None:
    """Until a new task due today, made now, has had its reminder (see the module's docstring)."""
    marker = create_task(http, account, due_date=today().isoformat())
    event_of_type(stack.redis_url, marker["id"], DUE_SOON)


def due_soon_mails(stack: Any, user_id: int, at_least: int = 0) -> list[dict[str, Any]]:
    """The user's reminder emails in the delivery log (waiting until there are `at_least`)."""

    def mails() -> list[dict[str, Any]]:
        return [mail for mail in mail_log(stack, user_id) if mail["kind"] == DUE_SOON]

    return wait_until(mails, f"{at_least} reminders to user {user_id}", accept=lambda m: len(m) >= at_least)


def test_a_task_due_soon_emails_its_owner_and_sharees_who_want_it_once(http, stack) -> None:
    owner, ann = reminder_account(http, stack), reminder_account(http, stack)
    bob = verified_account(http, stack)  # task_due_soon left off (the default)
    carol = new_account(http)  # wants it, never verified
    set_notify_preferences(http, carol, task_due_soon=True)
    task = create_task(http, owner, title="File the taxes", due_date=FAR)  # not due: shares first
    for sharee in (ann, bob, carol):
        share_task(http, owner, task["id"], sharee.username)
    tomorrow = (today() + timedelta(days=1)).isoformat()
    set_due(http, owner, task["id"], tomorrow)

    reminder = event_of_type(stack.redis_url, task["id"], DUE_SOON)
    assert (reminder.actor_user_id, reminder.task_due_soon.due_date) == (0, tomorrow)
    assert sorted(reminder.audience_user_ids) == sorted([owner.id, ann.id, bob.id, carol.id])
    assert recipients_of(stack, reminder.event_id) == {owner.id: DUE_SOON, ann.id: DUE_SOON}

    [mail] = due_soon_mails(stack, ann.id, at_least=1)
    assert mail["email"] == ann.email
    assert "File the taxes" in mail["subject"] and tomorrow in mail["subject"]
    assert f'"File the taxes" is due on {tomorrow}' in mail["body"]
    assert due_soon_mails(stack, bob.id) == [] and due_soon_mails(stack, carol.id) == []

    settle(http, stack, owner)
    assert len(reminders(stack, task["id"])) == 1
    assert len(due_soon_mails(stack, owner.id, at_least=2)) == 2  # this task's, and the marker's


def test_a_new_due_date_re_arms_the_reminder(http, stack) -> None:
    owner = reminder_account(http, stack)
    task = create_task(http, owner, due_date=today().isoformat())
    first = event_of_type(stack.redis_url, task["id"], DUE_SOON)
    assert first.task_due_soon.due_date == today().isoformat()

    tomorrow = (today() + timedelta(days=1)).isoformat()
    set_due(http, owner, task["id"], tomorrow)
    second = event_of_type(stack.redis_url, task["id"], DUE_SOON, nth=2)
    assert second.task_due_soon.due_date == tomorrow
    assert recipients_of(stack, second.event_id) == {owner.id: DUE_SOON}

    response = http.patch(f"/tasks/{task['id']}", json={"title": "renamed"}, headers=owner.headers)
    assert response.status_code == 200, response.text  # a change other than the due date: no re-arm
    settle(http, stack, owner)
    assert [e.task_due_soon.due_date for e in reminders(stack, task["id"])] == [today().isoformat(), tomorrow]
    mails = due_soon_mails(stack, owner.id, at_least=3)  # the task's two, and the marker's
    assert sorted(mail["subject"].split(":")[0] for mail in mails) == sorted(
        [f"Task due {today().isoformat()}", f"Task due {tomorrow}", f"Task due {today().isoformat()}"]
    )


def test_tasks_not_due_soon_completed_or_deleted_get_no_reminder(http, stack) -> None:
    owner = reminder_account(http, stack)
    far = create_task(http, owner, due_date=(today() + timedelta(days=3)).isoformat())
    past = create_task(http, owner, due_date=(today() - timedelta(days=1)).isoformat())
    undated = create_task(http, owner)
    done = create_task(http, owner, due_date=today().isoformat(), completed=True)
    doomed = create_task(http, owner, due_date=FAR)
    assert http.delete(f"/tasks/{doomed['id']}", headers=owner.headers).status_code == 204
    settle(http, stack, owner)
    for quiet in (far, past, undated, done, doomed):
        assert reminders(stack, quiet["id"]) == [], quiet
    assert len(due_soon_mails(stack, owner.id, at_least=1)) == 1  # the marker's only


def test_reminders_are_off_until_turned_on(http, stack) -> None:
    owner = verified_account(http, stack)
    task = create_task(http, owner, due_date=today().isoformat())
    reminder = event_of_type(stack.redis_url, task["id"], DUE_SOON)
    assert recipients_of(stack, reminder.event_id) == {}


def test_only_the_tasks_audience_is_reminded(http, stack) -> None:
    """A user who does not see the task gets nothing, reminders on or not."""
    owner, stranger = reminder_account(http, stack), reminder_account(http, stack)
    task = create_task(http, owner, due_date=today().isoformat())
    reminder = event_of_type(stack.redis_url, task["id"], DUE_SOON)
    assert recipients_of(stack, reminder.event_id) == {owner.id: DUE_SOON}
    assert due_soon_mails(stack, stranger.id) == []


# --- two instances ------------------------------------------------------------------------------


async def _reminders_on_stream(redis: Redis, task_ids: set[int]) -> dict[int, int]:
    counts = dict.fromkeys(task_ids, 0)
    for _, fields in await redis.xrange("events:tasks", min="-", max="+"):
        if fields[b"type"] == DUE_SOON.encode():
            event = decode(fields[b"payload"])
            if event.task_id in counts:
                counts[event.task_id] += 1
    return counts


async def test_two_schedulers_send_each_reminder_once(stack) -> None:
    """A second scheduler, in this process, on the stack's tasks database, scanning as often as the
    stack's own, while tasks due today arrive in waves: each still gets exactly one reminder, and
    both schedulers did some of the sending."""
    tasks_spec = next(s for s in SERVICES if s.name == "tasks")
    settings = TasksSettings(database_url=stack.service_database_url(tasks_spec), due_soon_scan_seconds=0.5)
    db = Database(settings)
    redis = Redis.from_url(stack.redis_url)
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as sync_http:
        owner = new_account(sync_http)
    scheduler, sent_here = due_soon_scheduler(settings, db), []
    scan = scheduler.scan

    async def counted_scan() -> int:
        sent_here.append(await scan())
        return sent_here[-1]

    scheduler.scan = counted_scan  # type: ignore[method-assign]
    second = asyncio.create_task(scheduler.run())
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10, headers=owner.headers) as http:
            ids: set[int] = set()
            for wave in range(WAVES):
                created = await asyncio.gather(
                    *(
                        http.post("/tasks", json={"title": f"w{wave}t{n}", "due_date": today().isoformat()})
                        for n in range(10)
                    )
                )
                assert all(response.status_code == 201 for response in created)
                ids |= {response.json()["id"] for response in created}
                await asyncio.sleep(random.uniform(0.2, 0.7))
            deadline = time.monotonic() + 20
            while min((await _reminders_on_stream(redis, ids)).values()) == 0:
                assert time.monotonic() < deadline, "not every task had its reminder"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # three more scans of each
            assert set((await _reminders_on_stream(redis, ids)).values()) == {1}
    finally:
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        await db.close()
        await redis.aclose()
    assert sum(sent_here) > 0, "the second scheduler sent none"
    assert sum(sent_here) < len(ids), "the stack's scheduler sent none: no contention was tested"
