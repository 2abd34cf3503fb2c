"""Recording events, through the consumer's handler, against the in-memory unit of work
(conftest.py): the entry of each event type, who gains and loses access to a timeline, repeated
access changes, and events delivered out of their order in time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Value

from taskmanager.events.v1 import events_pb2 as pb
from tm_activity.service import activity
from tm_common.errors import NotFound
from tm_common.events import envelope

OWNER, VIEWER, STRANGER = 1, 2, 3
TASK = 40
T0 = datetime(2026, 11, 10, 12, tzinfo=UTC)

TASK_SNAPSHOT = pb.TaskSnapshot(id=TASK, title="t", priority="low", user_id=OWNER)
SHARE = pb.ShareSnapshot(
    id=3, task_id=TASK, shared_with_user_id=VIEWER, shared_with_username="bob", permission="view"
)
COMMENT = pb.CommentSnapshot(id=5, task_id=TASK, user_id=VIEWER, content="hi")
FILE = pb.FileSnapshot(id=9, task_id=TASK, original_filename="a.txt", file_size=3, uploaded_by_user_id=OWNER)
TASK_JSON = {"id": TASK, "title": "t", "completed": False, "priority": "low", "tags": [], "user_id": OWNER}
SHARE_JSON = {
    "id": 3,
    "task_id": TASK,
    "shared_with_user_id": VIEWER,
    "shared_with_username": "bob",
    "permission": "view",
}
COMMENT_JSON = {"id": 5, "task_id": TASK, "user_id": VIEWER, "content": "hi"}
FILE_JSON = {
    "id": 9,
    "task_id": TASK,
    "original_filename": "a.txt",
    "file_size": 3,
    "uploaded_by_user_id": OWNER,
}
TITLE = pb.FieldChange(field="title", old_value=Value(string_value="a"), new_value=Value(string_value="b"))


def event(payload: Message, at: datetime | None = None, task_id: int = TASK) -> pb.EventEnvelope:
    made = envelope(
        payload,
        "tasks",
        OWNER,
        actor_username="alice",
        task_id=task_id,
        task_owner_user_id=OWNER,
        task_title="t",
    )
    if at is not None:
        made.occurred_at.FromDatetime(at)
    return made


def shared(at: datetime | None = None, revoke: bool = False) -> pb.EventEnvelope:
    return event(pb.TaskUnshared(share=SHARE) if revoke else pb.TaskShared(share=SHARE), at)


def created(at: datetime | None = None) -> pb.EventEnvelope:
    return event(pb.TaskCreated(task=TASK_SNAPSHOT), at)


def deleted(at: datetime | None = None) -> pb.EventEnvelope:
    return event(pb.TaskDeleted(task=TASK_SNAPSHOT), at)


CHANGES = {"changes": {"title": {"old": "a", "new": "b"}}}
EDITED = {"content": {"old": "hi", "new": "hey"}}
PERMISSION = {"permission": {"old": "view", "new": "edit"}}
TAGS = {"changes": {"tags": {"old": ["a"], "new": ["a", "b"]}}}
CASES: list[tuple[Message, tuple[str, str, int], dict[str, Any]]] = [
    (pb.TaskCreated(task=TASK_SNAPSHOT), ("created", "task", TASK), {"task": TASK_JSON}),
    (pb.TaskUpdated(task=TASK_SNAPSHOT, changes=[TITLE]), ("updated", "task", TASK), CHANGES),
    (pb.TaskCompleted(task=TASK_SNAPSHOT, changes=[TITLE]), ("updated", "task", TASK), CHANGES),
    (pb.TaskDeleted(task=TASK_SNAPSHOT), ("deleted", "task", TASK), {"task": TASK_JSON}),
    (
        pb.TagsAdded(added=["b"], old_tags=["a"], new_tags=["a", "b"]),
        ("updated", "task", TASK),
        TAGS | {"added": ["b"]},
    ),
    (
        pb.TagRemoved(tag="b", old_tags=["a", "b"], new_tags=["a"]),
        ("updated", "task", TASK),
        {"changes": {"tags": {"old": ["a", "b"], "new": ["a"]}}, "removed": "b"},
    ),
    (pb.TaskShared(share=SHARE), ("shared", "task", TASK), {"share": SHARE_JSON}),
    (
        pb.SharePermissionChanged(share=SHARE, old_permission="view", new_permission="edit"),
        ("updated", "task", TASK),
        {"share": SHARE_JSON, "changes": PERMISSION},
    ),
    (pb.TaskUnshared(share=SHARE), ("unshared", "task", TASK), {"share": SHARE_JSON}),
    (pb.CommentAdded(comment=COMMENT), ("created", "comment", 5), {"task_id": TASK, "comment": COMMENT_JSON}),
    (
        pb.CommentUpdated(comment=COMMENT, old_content="hi", new_content="hey"),
        ("updated", "comment", 5),
        {"task_id": TASK, "changes": EDITED},
    ),
    (
        pb.CommentDeleted(comment=COMMENT),
        ("deleted", "comment", 5),
        {"task_id": TASK, "comment": COMMENT_JSON},
    ),
    (pb.FileUploaded(file=FILE), ("uploaded", "file", 9), {"task_id": TASK, "file": FILE_JSON}),
    (
        pb.FileDeleted(file=FILE, cause="request"),
        ("deleted", "file", 9),
        {"task_id": TASK, "file": FILE_JSON, "cause": "request"},
    ),
]


@pytest.mark.parametrize(
    ("payload", "kind", "details"), CASES, ids=[case[0].DESCRIPTOR.name for case in CASES]
)
async def test_each_event_makes_its_entry(fake, payload: Message, kind: tuple, details: dict) -> None:
    made = event(payload, T0)
    await fake.record(made)
    [(entry, task_id)] = fake.recorded()
    assert (entry.action, entry.resource_type, entry.resource_id, task_id) == (*kind, TASK)
    assert (entry.user_id, entry.username, entry.created_at) == (OWNER, "alice", T0)
    assert entry.details == details


async def test_user_events_are_not_recorded(fake) -> None:
    await fake.record(envelope(pb.UserRegistered(user_id=3, username="c", email="c@x.io"), "auth", 3))
    assert fake.recorded() == [] and fake.state.owners == {}


async def test_a_batch_is_one_unit_of_work_in_the_consumers_transaction(fake) -> None:
    conn = object()
    await fake.consumer(conn, [created(), shared(), event(pb.CommentAdded(comment=COMMENT))])
    assert fake.units.joined == [conn]
    [unit] = fake.units.opened
    assert unit.committed and unit.events == []  # it publishes nothing
    assert [(e.action, e.resource_type) for e, _ in fake.recorded()] == [
        ("created", "task"),
        ("shared", "task"),
        ("created", "comment"),
    ]


async def test_a_batch_that_fails_records_nothing(fake, monkeypatch) -> None:
    async def broken(self: object, new: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(fake.units().entries), "add_many", broken)
    with pytest.raises(RuntimeError):
        await fake.record(created(), shared())
    assert fake.state.owners == {} and fake.state.viewers == {}  # the access changes rolled back too


async def readers(fake) -> set[int]:  # type: ignore[no-untyped-def]
    """Who may read TASK's timeline now."""
    found = set()
    for user_id in (OWNER, VIEWER, STRANGER):
        try:
            await activity.task_timeline(fake.deps, user_id, TASK, 0, "")
            found.add(user_id)
        except NotFound:
            pass
    return found


async def test_access_follows_the_events_of_the_task(fake) -> None:
    assert await readers(fake) == set()
    await fake.record(created())
    assert await readers(fake) == {OWNER}
    await fake.record(shared())
    assert await readers(fake) == {OWNER, VIEWER}
    await fake.record(shared(revoke=True))
    assert await readers(fake) == {OWNER}
    await fake.record(shared())
    assert await readers(fake) == {OWNER, VIEWER}
    await fake.record(deleted())
    assert await readers(fake) == set()  # nobody once the task is deleted


async def test_any_event_of_the_task_tells_its_owner(fake) -> None:
    await fake.record(event(pb.CommentAdded(comment=COMMENT)))  # the task's creation not seen yet
    assert await readers(fake) == {OWNER}


async def test_repeated_access_changes_change_nothing_more(fake) -> None:
    await fake.record(created(T0), shared(T0 + timedelta(seconds=1)))
    once = (dict(fake.state.owners), dict(fake.state.viewers))
    await fake.record(shared(T0 + timedelta(seconds=1)), created(T0))  # the same again
    assert (fake.state.owners, fake.state.viewers) == once
    for _ in range(2):
        await fake.record(shared(T0 + timedelta(seconds=2), revoke=True))
    assert await readers(fake) == {OWNER}
    for _ in range(2):
        await fake.record(deleted(T0 + timedelta(seconds=3)))
    assert fake.state.owners[TASK].deleted_at == T0 + timedelta(seconds=3)
    assert await readers(fake) == set()


async def test_a_revocation_delivered_before_its_share_still_wins(fake) -> None:
    await fake.record(created(T0))
    await fake.record(shared(T0 + timedelta(seconds=2), revoke=True))
    await fake.record(shared(T0 + timedelta(seconds=1)))  # granted earlier, delivered later
    assert await readers(fake) == {OWNER}


async def test_in_one_batch_the_last_change_of_a_share_by_event_time_wins(fake) -> None:
    grant, revoke, regrant = (shared(T0 + timedelta(seconds=s), revoke=s == 2) for s in (1, 2, 3))
    await fake.record(created(T0), regrant, grant, revoke)
    assert await readers(fake) == {OWNER, VIEWER}
    await fake.record(shared(T0 + timedelta(seconds=5), revoke=True), shared(T0 + timedelta(seconds=4)))
    assert await readers(fake) == {OWNER}


async def test_a_share_delivered_after_the_delete_gives_no_access(fake) -> None:
    await fake.record(created(T0), deleted(T0 + timedelta(seconds=2)))
    await fake.record(shared(T0 + timedelta(seconds=1)))
    assert await readers(fake) == set()


async def test_entries_delivered_out_of_order_read_in_event_time_order(fake) -> None:
    updates = []
    for n in range(5):
        change = pb.FieldChange(field="title", new_value=Value(string_value=f"v{n}"))
        updates.append(
            event(pb.TaskUpdated(task=TASK_SNAPSHOT, changes=[change]), T0 + timedelta(seconds=n + 1))
        )
    delivered = [*updates, created(T0)]
    random.Random(7).shuffle(delivered)
    for half in (delivered[:3], delivered[3:]):
        await fake.record(*half)
    page = await activity.task_timeline(fake.deps, OWNER, TASK, 0, "")
    assert [e.created_at for e in page.entries] == [T0 + timedelta(seconds=s) for s in (0, 1, 2, 3, 4, 5)]
    titles = [e.details["new_values"]["title"] for e in page.entries if e.action == "updated"]
    assert titles == ["v0", "v1", "v2", "v3", "v4"]
