"""Which events notify whom, and the emails they make. Pure, no I/O.

Recipients are decided from the event (never the actor); preferences are applied afterwards with
`preferences.wants`, as they stand when the event is consumed."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from taskmanager.events.v1.events_pb2 import EventEnvelope

VERIFICATION = "verification"
# Event type -> the preference switch that governs its email.
SWITCH_OF = {
    "task.shared": "task_shared_with_me",
    "task.completed": "task_completed",
    "comment.added": "comment_on_my_task",
}
MAX_SUBJECT = 99  # SNS: fewer than 100 printable ASCII characters, no line breaks
FOOTER = (
    "\n\n--\nYou get this email because email notifications are on for your Task Manager account.\n"
    "Change them with PATCH /notifications/preferences."
)


@dataclass(frozen=True, slots=True)
class Notice:
    """What an event asks to tell, and to whom (before preferences)."""

    kind: str  # the event type
    switch: str
    candidates: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Mail:
    subject: str
    body: str


def notice_of(event: EventEnvelope) -> Notice | None:
    """None for events that notify nobody."""
    switch = SWITCH_OF.get(event.type)
    if switch is None:
        return None
    if event.type == "task.shared":
        ids: list[int] = [event.task_shared.share.shared_with_user_id]
    else:  # task.completed, comment.added: everyone who can see the task
        ids = list(event.audience_user_ids)
    candidates = tuple(sorted({i for i in ids if i > 0 and i != event.actor_user_id}))
    return Notice(kind=event.type, switch=switch, candidates=candidates)


def subject_line(text: str) -> str:
    """Printable ASCII on one line, shortened to MAX_SUBJECT (what SNS accepts as a Subject)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    line = re.sub(r"[^\x20-\x7e]+", " ", folded)
    line = re.sub(r" {2,}", " ", line).strip()
    return line if len(line) <= MAX_SUBJECT else line[: MAX_SUBJECT - 3].rstrip() + "..."


def _actor(event: EventEnvelope) -> str:
    return event.actor_username or "Someone"


def mail_of(event: EventEnvelope) -> Mail:
    """The email of a notifying event (the same for every recipient)."""
    title = event.task_title
    if event.type == "task.shared":
        permission = event.task_shared.share.permission or "view"
        subject = f"A task was shared with you: {title}"
        body = f'{_actor(event)} shared the task "{title}" with you ({permission} access).'
    elif event.type == "task.completed":
        subject = f"Task completed: {title}"
        body = f'{_actor(event)} completed the task "{title}".'
    elif event.type == "comment.added":
        subject = f"New comment on {title}"
        content = event.comment_added.comment.content
        body = f'{_actor(event)} commented on the task "{title}":\n\n{content}'
    else:
        raise ValueError(f"{event.type} sends no email")
    return Mail(subject=subject_line(subject), body=body + FOOTER)


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
