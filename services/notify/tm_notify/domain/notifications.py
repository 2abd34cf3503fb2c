"""Which changes notify whom, and the emails they make. Pure, no I/O.

Recipients come from the change (never its actor; a due-soon reminder, which no user caused, goes
to everyone who sees the task); then only those who want that kind of email now
(`preferences.wants`: a verified address, not in do-not-disturb, the switch on) get one.
adapters/events.py reads the events as `TaskNews`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from tm_notify.domain.deliveries import NewDelivery
from tm_notify.domain.preferences import wants
from tm_notify.domain.users import Contact

VERIFICATION = "verification"
# Event type -> the preference switch that governs its email.
SWITCH_OF = {
    "task.shared": "task_shared_with_me",
    "task.completed": "task_completed",
    "comment.added": "comment_on_my_task",
    "task.due_soon": "task_due_soon",
}
MAX_SUBJECT = 99  # SNS: fewer than 100 printable ASCII characters, no line breaks
FOOTER = (
    "\n\n--\nYou get this email because email notifications are on for your Task Manager account.\n"
    "Change them with PATCH /notifications/preferences."
)


@dataclass(frozen=True, slots=True)
class TaskNews:
    """A change to a task that may be emailed about (or a reminder that it is due soon): who did
    what to which task, who sees the task, and what the email says of it."""

    event_id: str
    kind: str  # the event type
    actor_user_id: int
    actor_username: str
    task_title: str
    audience: tuple[int, ...]  # the owner and everyone the task is shared with
    shared_with_user_id: int = 0  # task.shared: whom it is shared with
    permission: str = ""  # task.shared: the permission granted
    comment: str = ""  # comment.added: the comment's content
    due_date: str = ""  # task.due_soon: "YYYY-MM-DD", the due date it reminds of


@dataclass(frozen=True, slots=True)
class Notice:
    """What a change asks to tell, and to whom (before preferences)."""

    kind: str  # the event type
    switch: str
    candidates: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Mail:
    subject: str
    body: str


def notice_of(news: TaskNews) -> Notice | None:
    """None for changes that notify nobody."""
    switch = SWITCH_OF.get(news.kind)
    if switch is None:
        return None
    if news.kind == "task.shared":
        ids: Iterable[int] = (news.shared_with_user_id,)
    else:  # task.completed, comment.added, task.due_soon: everyone who can see the task
        ids = news.audience
    candidates = tuple(sorted({i for i in ids if i > 0 and i != news.actor_user_id}))
    return Notice(kind=news.kind, switch=switch, candidates=candidates)


def recipients(notice: Notice, contacts: Iterable[Contact]) -> list[Contact]:
    """The candidates among these contacts who want this kind of email now."""
    candidates = set(notice.candidates)
    return [c for c in contacts if c.user_id in candidates and wants(c.preferences, notice.switch)]


def subject_line(text: str) -> str:
    """Printable ASCII on one line, shortened to MAX_SUBJECT (what SNS accepts as a Subject)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    line = re.sub(r"[^\x20-\x7e]+", " ", folded)
    line = re.sub(r" {2,}", " ", line).strip()
    return line if len(line) <= MAX_SUBJECT else line[: MAX_SUBJECT - 3].rstrip() + "..."


def mail_of(news: TaskNews) -> Mail:
    """The email of a notifying change (the same for every recipient)."""
    title, actor = news.task_title, news.actor_username or "Someone"
    if news.kind == "task.shared":
        subject = f"A task was shared with you: {title}"
        body = f'{actor} shared the task "{title}" with you ({news.permission or "view"} access).'
    elif news.kind == "task.completed":
        subject = f"Task completed: {title}"
        body = f'{actor} completed the task "{title}".'
    elif news.kind == "comment.added":
        subject = f"New comment on {title}"
        body = f'{actor} commented on the task "{title}":\n\n{news.comment}'
    elif news.kind == "task.due_soon":  # a reminder: no actor
        subject = f"Task due {news.due_date}: {title}"
        body = f'Reminder: the task "{title}" is due on {news.due_date} (UTC) and is not completed yet.'
    else:
        raise ValueError(f"{news.kind} sends no email")
    return Mail(subject=subject_line(subject), body=body + FOOTER)


def deliveries_of(news: TaskNews, to: Iterable[Contact]) -> list[NewDelivery]:
    """The emails of a change to these recipients: one each, keyed by the change's event."""
    mail = mail_of(news)
    return [
        NewDelivery(
            event_id=news.event_id,
            user_id=contact.user_id,
            kind=news.kind,
            email=contact.email,
            subject=mail.subject,
            body=mail.body,
        )
        for contact in to
    ]


def verification_mail(code: str, ttl_minutes: int) -> Mail:
    return Mail(
        subject="Your Task Manager verification code",
        body=(
            f"Your verification code is {code}\n\n"
            f"Enter it with POST /notifications/verify within {ttl_minutes} minutes. It works once.\n"
            "If you did not ask for it, ignore this email: nothing is sent to this address until it "
            "is verified."
        ),
    )
