"""The use cases of preferences against the in-memory unit of work (conftest.py): the defaults,
and what a PATCH may change."""

from __future__ import annotations

import pytest

from tm_common.errors import InvalidArgument
from tm_notify.domain.preferences import Preferences
from tm_notify.service import preferences

ANN = 1


async def test_a_user_without_preferences_reads_the_defaults_which_are_then_kept(fake) -> None:
    prefs = await preferences.my_preferences(fake.deps, ANN)
    assert prefs == Preferences(ANN)
    assert not prefs.email_verified and prefs.email_enabled and not prefs.task_due_soon
    assert fake.state.prefs == {ANN: Preferences(ANN)}


async def test_reading_leaves_stored_preferences_as_they_are(fake) -> None:
    fake.user(ANN, task_completed=False)
    assert (await preferences.my_preferences(fake.deps, ANN)).task_completed is False


async def test_a_patch_sets_only_the_switches_given_and_stamps_the_change(fake) -> None:
    fake.user(ANN, verified=True)
    changed = await preferences.change_preferences(
        fake.deps, ANN, {"task_completed": False, "email_enabled": None}
    )
    assert changed.task_completed is False
    assert changed.email_enabled and changed.email_verified and changed.comment_on_my_task
    assert changed.updated_at is not None
    assert fake.state.prefs[ANN] == changed


async def test_a_patch_before_any_read_starts_from_the_defaults(fake) -> None:
    changed = await preferences.change_preferences(fake.deps, ANN, {"task_due_soon": True})
    assert changed == Preferences(ANN, task_due_soon=True, updated_at=changed.updated_at)


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param({"email_verified": True}, id="email_verified"),
        pytest.param({"email_verified": True, "task_completed": False}, id="email_verified-with-a-switch"),
        pytest.param({"user_id": 2}, id="not-a-preference"),
    ],
)
async def test_refused_patches_change_nothing(fake, requested) -> None:
    fake.user(ANN, verified=False)
    before = dict(fake.state.prefs)
    with pytest.raises(InvalidArgument):
        await preferences.change_preferences(fake.deps, ANN, requested)
    assert fake.state.prefs == before
    assert fake.state.prefs[ANN].email_verified is False


async def test_one_users_patch_leaves_the_others(fake) -> None:
    fake.user(ANN)
    fake.user(2)
    await preferences.change_preferences(fake.deps, ANN, {"email_enabled": False})
    assert fake.state.prefs[2] == Preferences(2, email_verified=True)


@pytest.mark.parametrize(
    "requested",
    [pytest.param({}, id="nothing"), pytest.param({"task_completed": None}, id="only-nulls")],
)
async def test_a_patch_that_sets_nothing_answers_the_preferences_and_writes_nothing(fake, requested) -> None:
    fake.user(ANN, task_completed=False)
    before = dict(fake.state.prefs)
    assert before[ANN].updated_at is None
    answered = await preferences.change_preferences(fake.deps, ANN, requested)
    assert answered == before[ANN]  # as stored: updated_at not stamped
    assert fake.state.prefs == before


async def test_a_patch_that_sets_nothing_before_any_read_answers_the_defaults(fake) -> None:
    answered = await preferences.change_preferences(fake.deps, ANN, {})
    assert answered == Preferences(ANN)
    assert answered.updated_at is None
