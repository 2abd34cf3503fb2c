"""The event handler on the real activity schema: out-of-order events, shares revoked before
they were granted (in delivery order), and deleted tasks."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from support.events import payload_of
from taskmanager.events.v1 import events_pb2 as pb
from tm_activity.adapters.unit_of_work import SqlActivityUnitOfWork
from tm_activity.config import ActivitySettings
from tm_activity.entrypoints.consumer import RecordEvents
from tm_activity.service import activity
from tm_activity.service.activity import ActivityDeps
from tm_common.db import Database
from tm_common.errors import NotFound
from tm_common.events import envelope
from tm_common.paging import PageTokens
from tm_common.uow import UnitsOfWork
from tm_common.write_marks import Settled
from tm_devstack.services import SERVICES

OWNER, VIEWER = 2_000_001, 2_000_002


@pytest.fixture
async def db(stack) -> AsyncIterator[Database]:
    spec = next(s for s in SERVICES if s.name == "activity")
    database = Database(ActivitySettings(database_url=stack.service_database_url(spec)))
    yield database
    await database.close()


@pytest.fixture
def deps(db: Database) -> ActivityDeps:
    return ActivityDeps(
        uow=UnitsOfWork(SqlActivityUnitOfWork, db),
        tokens=PageTokens(b"integration-test-page-token-key"),
        own_writes=AlreadyApplied(),
    )


class AlreadyApplied:
    """These tests record events themselves: nothing to wait for."""

    async def settle(self) -> Settled:
        return Settled(stale=False, waited=0.0)


def new_task_id() -> int:
    return random.randint(1_000_000_000, 2_000_000_000)  # never one of the stack's own tasks


def event(event_type: str, task_id: int, actor: int = OWNER) -> pb.EventEnvelope:
    """An event of the task with its payload's task set (share payloads: see shared())."""
    made = envelope(
        payload_of(event_type), "tasks", actor, task_id=task_id, task_owner_user_id=OWNER, task_title="t"
    )
    payload = {"task.created": "task_created", "task.updated": "task_updated", "task.deleted": "task_deleted"}
    if event_type in payload:
        getattr(made, payload[event_type]).task.id = task_id
    return made


def shared(task_id: int, revoke: bool = False) -> pb.EventEnvelope:
    made = event("task.unshared" if revoke else "task.shared", task_id)
    snapshot = pb.ShareSnapshot(task_id=task_id, shared_with_user_id=VIEWER, permission="view")
    (made.task_unshared if revoke else made.task_shared).share.CopyFrom(snapshot)
    return made


async def apply(db: Database, *events: pb.EventEnvelope) -> None:
    """Each event in a batch of its own, as the consumer's handler records it."""
    for each in events:
        async with db.transaction() as conn:
            await RecordEvents(UnitsOfWork(SqlActivityUnitOfWork, db))(conn, [each])


async def test_out_of_order_events_read_in_event_time_order(db, deps) -> None:
    task_id = new_task_id()
    created = event("task.created", task_id)
    updates = []
    for n in range(5):
        update = event("task.updated", task_id)
        update.task_updated.changes.add(field="title").new_value.string_value = f"v{n}"
        updates.append(update)
    delivered = [*updates, created]
    random.shuffle(delivered)
    await apply(db, *delivered)

    page = await activity.task_timeline(deps, OWNER, task_id, 0, "")
    assert [e.created_at for e in page.entries] == sorted(e.created_at for e in page.entries)
    assert [e.action for e in page.entries] == ["created"] + ["updated"] * 5
    titles = [e.details["new_values"]["title"] for e in page.entries if e.action == "updated"]
    assert titles == ["v0", "v1", "v2", "v3", "v4"]


async def test_a_revocation_delivered_before_its_share_still_wins(db, deps) -> None:
    task_id = new_task_id()
    grant, revoke = shared(task_id), shared(task_id, revoke=True)  # granted, then revoked
    await apply(db, event("task.created", task_id), revoke, grant)  # delivered the other way
    with pytest.raises(NotFound):
        await activity.task_timeline(deps, VIEWER, task_id, 0, "")
    assert len((await activity.task_timeline(deps, OWNER, task_id, 0, "")).entries) == 3


async def test_the_owner_and_a_sharee_read_the_timeline_until_the_task_is_deleted(db, deps) -> None:
    task_id = new_task_id()
    await apply(db, event("task.created", task_id), shared(task_id))
    assert len((await activity.task_timeline(deps, VIEWER, task_id, 0, "")).entries) == 2
    owner_view = await activity.task_timeline(deps, OWNER, task_id, 0, "")
    assert [e.action for e in owner_view.entries] == ["created", "shared"]
    await apply(db, event("task.deleted", task_id))
    for user_id in (OWNER, VIEWER):
        with pytest.raises(NotFound):
            await activity.task_timeline(deps, user_id, task_id, 0, "")


async def test_timeline_pages_with_tokens(db, deps) -> None:
    task_id = new_task_id()
    await apply(db, event("task.created", task_id), *[event("task.updated", task_id) for _ in range(4)])
    seen, token = [], ""
    while True:
        page = await activity.task_timeline(deps, OWNER, task_id, 2, token)
        seen += [e.id for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    everything = await activity.task_timeline(deps, OWNER, task_id, 0, "")
    assert seen == [e.id for e in everything.entries] and len(seen) == 5


async def test_a_batch_applies_as_its_events_one_by_one(db, deps) -> None:
    task_id = new_task_id()
    created = event("task.created", task_id)
    grant, revoke, regrant = shared(task_id), shared(task_id, revoke=True), shared(task_id)
    async with db.transaction() as conn:  # one batch, the share's three states in it
        await RecordEvents(deps.uow)(conn, [created, grant, revoke, regrant])
    page = await activity.task_timeline(deps, VIEWER, task_id, 0, "")  # the last one wins
    assert [e.action for e in page.entries] == ["created", "shared", "unshared", "shared"]
