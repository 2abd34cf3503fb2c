"""Which events notify whom: events as the consumer hands them over, through the handler (the
translation of adapters/events.py and the use cases of service/events.py) into the in-memory unit
of work (conftest.py)."""

from __future__ import annotations

import dataclasses

import pytest
from google.protobuf.message import Message

from taskmanager.events.v1 import events_pb2 as pb
from tm_common.events import envelope
from tm_notify.adapters.events import HANDLED, news_of, registration_of
from tm_notify.domain.notifications import TaskNews
from tm_notify.domain.preferences import Preferences
from tm_notify.domain.users import User

OWNER, ANN, BOB, CAROL = 1, 2, 3, 4


def about_task(payload: Message, actor: int, audience: list[int]) -> pb.EventEnvelope:
    return envelope(
        payload, "tasks", actor, actor_username=f"user{actor}", task_id=9, task_owner_user_id=OWNER,
        task_title="Plan the trip", audience=audience,
    )  # fmt: skip


def shared(with_user: int, actor: int = OWNER, permission: str = "edit") -> pb.EventEnvelope:
    share = pb.ShareSnapshot(id=4, task_id=9, shared_with_user_id=with_user, permission=permission)
    return about_task(pb.TaskShared(share=share), actor, [OWNER, with_user])


def completed(actor: int, audience: list[int]) -> pb.EventEnvelope:
    return about_task(pb.TaskCompleted(), actor, audience)


def commented(actor: int, audience: list[int], content: str = "Bring maps") -> pb.EventEnvelope:
    comment = pb.CommentSnapshot(id=5, task_id=9, user_id=actor, content=content)
    return about_task(pb.CommentAdded(comment=comment), actor, audience)


def due_soon(audience: list[int], due_date: str = "2026-12-08") -> pb.EventEnvelope:
    """As the tasks service's scheduler sends it: no actor, the owner and the task's sharees."""
    task = pb.TaskSnapshot(id=9, title="Plan the trip", user_id=OWNER, due_date=due_date)
    return envelope(
        pb.TaskDueSoon(task=task, due_date=due_date), "tasks", 0, task_id=9, task_owner_user_id=OWNER,
        task_title="Plan the trip", audience=audience,
    )  # fmt: skip


def registered(user_id: int, email: str) -> pb.EventEnvelope:
    payload = pb.UserRegistered(user_id=user_id, username=f"user{user_id}", email=email)
    return envelope(payload, "auth", user_id)


def recipients(fake, event: pb.EventEnvelope) -> dict[int, str]:
    return {row.user_id: row.kind for row in fake.queued(event_id=event.event_id)}


@pytest.fixture
def people(fake):  # type: ignore[no-untyped-def]
    """OWNER, ANN and BOB verified with the defaults; CAROL known but unverified."""
    for user_id in (OWNER, ANN, BOB):
        fake.user(user_id)
    fake.user(CAROL, verified=False)
    return fake


async def test_a_registration_is_remembered_with_the_default_preferences(fake) -> None:
    await fake.consume(registered(ANN, "ann@example.com"))
    assert fake.state.users == {ANN: User(ANN, "user2", "ann@example.com")}
    assert fake.state.prefs == {ANN: Preferences(ANN)}
    assert fake.queued() == []


async def test_a_repeated_registration_updates_the_address_and_keeps_the_preferences(fake) -> None:
    fake.user(ANN, task_completed=False)
    await fake.consume(registered(ANN, "new@example.com"))
    assert fake.state.users[ANN].email == "new@example.com"
    assert fake.state.prefs[ANN].task_completed is False and fake.state.prefs[ANN].email_verified


async def test_a_share_emails_the_user_it_is_shared_with(people) -> None:
    event = shared(ANN)
    await people.consume(event)
    [mail] = people.queued()
    assert (mail.user_id, mail.kind, mail.email, mail.event_id) == (
        ANN, "task.shared", "user2@example.com", event.event_id,
    )  # fmt: skip
    assert mail.subject == "A task was shared with you: Plan the trip"
    assert 'user1 shared the task "Plan the trip" with you (edit access).' in mail.body
    assert (mail.status, mail.attempts, mail.expires_at) == ("pending", 0, None)


async def test_completion_emails_everyone_who_sees_the_task_but_the_actor(people) -> None:
    event = completed(ANN, [OWNER, ANN, BOB])
    await people.consume(event)
    assert recipients(people, event) == {OWNER: "task.completed", BOB: "task.completed"}
    assert people.queued()[0].subject == "Task completed: Plan the trip"


async def test_a_comment_emails_everyone_who_sees_the_task_but_its_author(people) -> None:
    event = commented(OWNER, [OWNER, ANN, BOB], "see you there")
    await people.consume(event)
    assert recipients(people, event) == {ANN: "comment.added", BOB: "comment.added"}
    assert all("see you there" in row.body for row in people.queued())


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(shared(OWNER, actor=OWNER), id="share-with-oneself"),
        pytest.param(completed(OWNER, [OWNER]), id="completing-alone"),
        pytest.param(commented(OWNER, [OWNER]), id="commenting-alone"),
    ],
)
async def test_the_actor_is_never_emailed(people, event) -> None:
    await people.consume(event)
    assert people.queued() == []


async def test_only_verified_addresses_are_emailed(people) -> None:
    await people.consume(shared(CAROL), completed(OWNER, [OWNER, ANN, CAROL]))
    assert {row.user_id for row in people.queued()} == {ANN}


async def test_users_notify_does_not_know_are_skipped(people) -> None:
    event = commented(OWNER, [OWNER, ANN, 99])
    await people.consume(event)
    assert recipients(people, event) == {ANN: "comment.added"}


@pytest.mark.parametrize(
    ("switch", "silenced"),
    [
        ("task_shared_with_me", "task.shared"),
        ("task_completed", "task.completed"),
        ("comment_on_my_task", "comment.added"),
    ],
)
async def test_a_switch_turned_off_stops_only_its_own_kind(people, switch: str, silenced: str) -> None:
    people.state.prefs[ANN] = dataclasses.replace(people.state.prefs[ANN], **{switch: False})
    await people.consume(shared(ANN), completed(OWNER, [OWNER, ANN]), commented(OWNER, [OWNER, ANN]))
    kinds = {row.kind for row in people.queued(user_id=ANN)}
    assert kinds == {"task.shared", "task.completed", "comment.added"} - {silenced}


async def test_do_not_disturb_stops_every_email_and_lifting_it_resumes_them(people) -> None:
    people.state.prefs[ANN] = dataclasses.replace(people.state.prefs[ANN], email_enabled=False)
    await people.consume(shared(ANN), completed(OWNER, [OWNER, ANN]), commented(OWNER, [OWNER, ANN]))
    assert people.queued(user_id=ANN) == []
    people.state.prefs[ANN] = dataclasses.replace(people.state.prefs[ANN], email_enabled=True)
    await people.consume(commented(OWNER, [OWNER, ANN]))
    assert [row.kind for row in people.queued(user_id=ANN)] == ["comment.added"]


async def test_an_event_consumed_twice_queues_its_emails_once(people) -> None:
    event = completed(OWNER, [OWNER, ANN, BOB])
    await people.consume(event, event)
    assert sorted(row.user_id for row in people.queued()) == [ANN, BOB]
    assert all(unit.committed for unit in people.units)


@pytest.mark.parametrize(
    "payload",
    [
        pb.TaskCreated(),
        pb.TaskUpdated(),
        pb.TaskDeleted(),
        pb.TagsAdded(),
        pb.TaskUnshared(share=pb.ShareSnapshot(shared_with_user_id=ANN)),
        pb.SharePermissionChanged(),
        pb.CommentUpdated(),
        pb.CommentDeleted(),
        pb.FileUploaded(),
    ],
    ids=lambda payload: type(payload).__name__,
)
async def test_other_events_email_nobody_and_open_no_unit_of_work(people, payload: Message) -> None:
    event = about_task(payload, OWNER, [OWNER, ANN, BOB])
    assert event.type not in HANDLED
    await people.consume(event)
    assert people.queued() == [] and people.units == []


def test_the_handled_types_are_the_registration_and_the_notifying_ones() -> None:
    notifying = {"task.shared", "task.completed", "comment.added", "task.due_soon"}
    assert frozenset({"user.registered", *notifying}) == HANDLED


async def test_a_due_soon_reminder_emails_everyone_who_sees_the_task_and_wants_it(people) -> None:
    for user_id in (OWNER, ANN, CAROL):
        people.state.prefs[user_id] = dataclasses.replace(people.state.prefs[user_id], task_due_soon=True)
    event = due_soon([OWNER, ANN, BOB, CAROL], "2026-12-08")
    await people.consume(event)
    # BOB left task_due_soon at its default (off); CAROL turned it on but is not verified.
    assert recipients(people, event) == {OWNER: "task.due_soon", ANN: "task.due_soon"}
    mail = people.queued(user_id=OWNER)[0]
    assert mail.subject == "Task due 2026-12-08: Plan the trip"
    assert '"Plan the trip" is due on 2026-12-08' in mail.body


async def test_due_soon_reminders_are_off_by_default(people) -> None:
    event = due_soon([OWNER, ANN])
    await people.consume(event)
    assert people.queued() == []
    assert len(people.units) == 1 and people.units[0].committed  # handled, recorded, nobody wanted it


async def test_do_not_disturb_stops_due_soon_reminders(people) -> None:
    people.state.prefs[ANN] = dataclasses.replace(
        people.state.prefs[ANN], task_due_soon=True, email_enabled=False
    )
    await people.consume(due_soon([OWNER, ANN]))
    assert people.queued() == []


def test_a_due_soon_reminder_reads_as_news_with_its_due_date_and_no_actor() -> None:
    event = due_soon([OWNER, ANN], "2027-01-31")
    assert news_of(event) == TaskNews(
        event_id=event.event_id, kind="task.due_soon", actor_user_id=0, actor_username="",
        task_title="Plan the trip", audience=(OWNER, ANN), due_date="2027-01-31",
    )  # fmt: skip


def test_an_event_reads_as_plain_news_of_its_task() -> None:
    event = commented(ANN, [OWNER, ANN], "hi")
    assert news_of(event) == TaskNews(
        event_id=event.event_id, kind="comment.added", actor_user_id=ANN, actor_username="user2",
        task_title="Plan the trip", audience=(OWNER, ANN), comment="hi",
    )  # fmt: skip
    share = news_of(shared(BOB, permission="view"))
    assert share is not None and (share.shared_with_user_id, share.permission) == (BOB, "view")
    assert registration_of(event) is None and news_of(registered(ANN, "a@example.com")) is None
    assert registration_of(registered(ANN, "a@example.com")) == User(ANN, "user2", "a@example.com")
