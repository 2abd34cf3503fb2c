from __future__ import annotations

import pytest

from taskmanager.events.v1 import events_pb2 as pb
from taskmanager.files.v1 import files_pb2
from taskmanager.tasks.v1 import tasks_pb2
from tm_common.convert import recast
from tm_common.events import EVENT_TYPES, UndecodableEvent, decode, envelope


def test_every_payload_has_a_type() -> None:
    fields = {f.name for f in pb.EventEnvelope.DESCRIPTOR.oneofs_by_name["payload"].fields}
    assert set(EVENT_TYPES) == fields


@pytest.mark.parametrize("field", sorted(EVENT_TYPES))
def test_the_type_comes_from_the_payload(field: str) -> None:
    payload = type(getattr(pb.EventEnvelope(), field))()
    event = envelope(payload, "tests", 7, task_id=3, audience=[5, 7, 5])
    assert (event.type, event.WhichOneof("payload")) == (EVENT_TYPES[field], field)
    assert (event.actor_user_id, list(event.audience_user_ids), event.task_id) == (7, [5, 7], 3)
    assert decode(event.SerializeToString()) == event


def test_an_event_whose_type_is_not_its_payloads_is_undecodable() -> None:
    event = envelope(pb.TaskCreated(), "tests", 1)
    event.type = "task.deleted"
    with pytest.raises(UndecodableEvent, match="type"):
        decode(event.SerializeToString())


@pytest.mark.parametrize(
    ("message", "snapshot"),
    [
        (tasks_pb2.Task, pb.TaskSnapshot),
        (tasks_pb2.Share, pb.ShareSnapshot),
        (tasks_pb2.Comment, pb.CommentSnapshot),
        (files_pb2.File, pb.FileSnapshot),
    ],
)
def test_each_snapshot_has_the_fields_of_its_api_message(message, snapshot) -> None:  # type: ignore[no-untyped-def]
    """recast() reads an API message as its event snapshot: a field number both have must be the
    same field (name and type) in both; one that only one has is the builder's to set."""
    api = {f.number: (f.name, f.type, f.is_repeated) for f in message.DESCRIPTOR.fields}
    shared = [f for f in snapshot.DESCRIPTOR.fields if f.number in api]
    assert len(shared) >= 6
    for field in shared:
        assert api[field.number] == (field.name, field.type, field.is_repeated), field.name


def test_recast_keeps_the_values() -> None:
    task = tasks_pb2.Task(id=3, title="t", tags=["a"], description="d")
    snapshot = recast(task, pb.TaskSnapshot)
    assert (snapshot.id, snapshot.title, list(snapshot.tags), snapshot.description) == (3, "t", ["a"], "d")
    assert not snapshot.HasField("due_date")
