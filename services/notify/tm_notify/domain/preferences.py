"""Notification preferences and who wants which email. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from tm_common.errors import Problems

# The switches a user sets (PATCH). email_verified is not one: only a verified code sets it.
SWITCHES = ("email_enabled", "task_shared_with_me", "task_completed", "comment_on_my_task", "task_due_soon")


@dataclass(frozen=True, slots=True)
class Preferences:
    """API.md's defaults: everything on except task_due_soon; no address verified yet."""

    user_id: int
    email_verified: bool = False
    email_enabled: bool = True  # the global switch: False is do-not-disturb
    task_shared_with_me: bool = True
    task_completed: bool = True
    comment_on_my_task: bool = True
    task_due_soon: bool = False
    updated_at: datetime | None = None  # None until the first change


def defaults(user_id: int) -> dict[str, bool]:
    prefs = Preferences(user_id)
    return {"email_verified": prefs.email_verified, **{name: getattr(prefs, name) for name in SWITCHES}}


def preference_changes(requested: Mapping[str, bool | None]) -> dict[str, bool]:
    """The switches to set: those given (None means "leave as it is"). Anything else is refused.
    Nothing to set is no change at all (PATCH {} answers the preferences as they are, as the
    original did)."""
    problems = Problems()
    changes: dict[str, bool] = {}
    for name, value in requested.items():
        if value is None:
            continue
        if name == "email_verified":
            problems.add(name, "cannot be set; it becomes true through POST /notifications/verify")
        elif name not in SWITCHES:
            problems.add(name, "is not a preference")
        else:
            changes[name] = value
    problems.raise_if_any()
    return changes


def wants(prefs: Preferences, switch: str) -> bool:
    """Whether an email of the kind this switch governs may go out: a verified address, not in
    do-not-disturb, and the switch on."""
    return prefs.email_verified and prefs.email_enabled and bool(getattr(prefs, switch))
