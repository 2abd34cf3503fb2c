"""Who each event notifies (never the actor), and the emails it makes."""

from __future__ import annotations

import pytest

from tm_notify.domain.notifications import (
    MAX_SUBJECT,
    TaskNews,
    mail_of,
    notice_of,
    recipients,
    subject_line,
    verification_mail,
)
from tm_notify.domain.preferences import Preferences
from tm_notify.domain.users import Contact


def event(event_type: str, actor: int = 1, audience: tuple[int, ...] = (1, 2, 3), **fields) -> TaskNews:
    values = {"actor_username": "ann", "task_title": "Plan the trip", **fields}
    return TaskNews("0b7d8a3c-6c1e-4c1a-9d55-0d6f0b7b0a11", event_type, actor, audience=audience, **values)


def shared(with_user: int, actor: int = 1) -> TaskNews:
    return event("task.shared", actor, (1, with_user), shared_with_user_id=with_user, permission="edit")


def commented(actor: int, audience: tuple[int, ...]) -> TaskNews:
    return event("comment.added", actor, audience, comment="Bring maps")


def test_a_share_notifies_the_user_it_is_shared_with() -> None:
    notice = notice_of(shared(7))
    assert notice is not None
    assert (notice.kind, notice.switch, notice.candidates) == ("task.shared", "task_shared_with_me", (7,))


def test_completion_notifies_the_audience_but_the_actor() -> None:
    notice = notice_of(event("task.completed", actor=2, audience=(1, 2, 3)))
    assert notice is not None
    assert (notice.switch, notice.candidates) == ("task_completed", (1, 3))


def test_a_comment_notifies_the_audience_but_its_author() -> None:
    notice = notice_of(commented(3, (1, 2, 3, 3)))
    assert notice is not None
    assert (notice.switch, notice.candidates) == ("comment_on_my_task", (1, 2))


def test_the_actor_is_never_a_recipient() -> None:
    for notifying in (shared(1, actor=1), event("task.completed", 1, (1,)), commented(1, (1,))):
        notice = notice_of(notifying)
        assert notice is not None and notice.candidates == ()


@pytest.mark.parametrize(
    "event_type",
    [
        "task.created",
        "task.updated",
        "task.deleted",
        "task.tags_added",
        "task.unshared",
        "task.share_permission_changed",
        "comment.updated",
        "comment.deleted",
        "file.uploaded",
        "user.registered",
    ],
)
def test_other_events_notify_nobody(event_type: str) -> None:
    assert notice_of(event(event_type)) is None


def test_the_emails_name_the_actor_the_task_and_what_happened() -> None:
    share = mail_of(shared(7))
    assert share.subject == "A task was shared with you: Plan the trip"
    assert "ann shared the task" in share.body and "edit access" in share.body
    assert mail_of(event("task.completed")).subject == "Task completed: Plan the trip"
    comment = mail_of(commented(3, (1, 3)))
    assert comment.subject == "New comment on Plan the trip" and "Bring maps" in comment.body
    assert "PATCH /notifications/preferences" in comment.body


def test_a_due_soon_reminder_notifies_the_whole_audience() -> None:
    notice = notice_of(event("task.due_soon", actor=0, audience=(3, 1, 2), due_date="2026-12-08"))
    assert notice is not None
    assert (notice.switch, notice.candidates) == ("task_due_soon", (1, 2, 3))


def test_the_due_soon_email_names_the_task_and_its_due_date() -> None:
    mail = mail_of(event("task.due_soon", actor=0, actor_username="", due_date="2026-12-08"))
    assert mail.subject == "Task due 2026-12-08: Plan the trip"
    assert mail.body.startswith('Reminder: the task "Plan the trip" is due on 2026-12-08 (UTC)')
    assert "Someone" not in mail.body and "PATCH /notifications/preferences" in mail.body
    long = mail_of(event("task.due_soon", actor=0, task_title="x" * 200, due_date="2026-12-08"))
    assert long.subject.startswith("Task due 2026-12-08: xxx") and len(long.subject) <= MAX_SUBJECT


def test_an_actor_without_a_name_is_someone() -> None:
    assert mail_of(event("task.completed", actor_username="")).body.startswith("Someone completed")


def test_a_share_without_a_permission_reads_as_view_access() -> None:
    assert "(view access)" in mail_of(event("task.shared", shared_with_user_id=7)).body


def contact(user_id: int, **prefs: bool) -> Contact:
    return Contact(user_id, f"u{user_id}", f"u{user_id}@example.com", Preferences(user_id, **prefs))


def test_recipients_are_the_candidates_who_want_that_kind_of_email() -> None:
    notice = notice_of(event("task.completed", actor=1, audience=(1, 2, 3, 4, 5)))
    assert notice is not None
    contacts = [
        contact(1, email_verified=True),  # the actor: never a candidate
        contact(2, email_verified=True),
        contact(3),  # unverified
        contact(4, email_verified=True, email_enabled=False),  # do-not-disturb
        contact(5, email_verified=True, task_completed=False),  # this kind switched off
        contact(6, email_verified=True),  # not in the audience
    ]
    assert [c.user_id for c in recipients(notice, contacts)] == [2]


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("Café\nmenu\t plan", "Cafe menu plan"),
        ("日本 trip", "trip"),
        ("x" * 150, "x" * (MAX_SUBJECT - 3) + "..."),
    ],
)
def test_subjects_are_one_line_of_printable_ascii_under_100(text: str, subject: str) -> None:
    line = subject_line(text)
    assert line == subject
    assert len(line) <= MAX_SUBJECT and line.isascii() and line.isprintable()


def test_the_verification_email_carries_the_code_and_its_lifetime() -> None:
    mail = verification_mail("012345", 15)
    assert "verification code is 012345" in mail.body and "15 minutes" in mail.body
    assert len(mail.subject) <= MAX_SUBJECT
