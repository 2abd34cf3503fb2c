"""Use cases of preferences: read them (defaults first), change some switches."""

from __future__ import annotations

from collections.abc import Mapping

from tm_notify.domain.preferences import Preferences, preference_changes
from tm_notify.service.deps import NotifyDeps


async def my_preferences(deps: NotifyDeps, user_id: int) -> Preferences:
    """The caller's preferences; the defaults are stored on first use if user.registered has not
    been consumed yet."""
    async with deps.uow() as uow:
        prefs = await uow.users.preferences_of(user_id)
        await uow.commit()
    return prefs


async def change_preferences(
    deps: NotifyDeps, user_id: int, requested: Mapping[str, bool | None]
) -> Preferences:
    """Sets the switches given. A patch that sets none is no change: it answers what a read
    answers, and neither writes nor stamps updated_at."""
    changes = preference_changes(requested)
    if not changes:
        return await my_preferences(deps, user_id)
    async with deps.uow() as uow:
        changed = await uow.users.change(user_id, changes)
        await uow.commit()
    return changed
