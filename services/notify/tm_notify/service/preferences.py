"""Use cases of preferences: read them (defaults first), change some switches."""

from __future__ import annotations

from collections.abc import Mapping

from tm_notify.adapters import user_store
from tm_notify.domain.preferences import Preferences, preference_changes
from tm_notify.service.deps import NotifyDeps


async def my_preferences(deps: NotifyDeps, user_id: int) -> Preferences:
    """The caller's preferences; the defaults are stored on first use if user.registered has not
    been consumed yet."""
    async with deps.db.transaction() as conn:
        return await user_store.preferences_of(conn, user_id)


async def change_preferences(
    deps: NotifyDeps, user_id: int, requested: Mapping[str, bool | None]
) -> Preferences:
    changes = preference_changes(requested)
    async with deps.db.transaction() as conn:
        return await user_store.change(conn, user_id, changes)
