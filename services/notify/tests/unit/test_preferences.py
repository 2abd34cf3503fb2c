"""Preferences: API.md's defaults, what a PATCH may set, and who wants which email."""

from __future__ import annotations

import pytest

from tm_common.errors import InvalidArgument
from tm_notify.domain.preferences import SWITCHES, Preferences, defaults, preference_changes, wants


def test_defaults_are_api_md_s() -> None:
    assert defaults(1) == {
        "email_verified": False,
        "email_enabled": True,
        "task_shared_with_me": True,
        "task_completed": True,
        "comment_on_my_task": True,
        "task_due_soon": False,
    }
    assert Preferences(1).updated_at is None


def test_only_the_switches_given_change() -> None:
    assert preference_changes({"task_completed": False, "email_enabled": None}) == {"task_completed": False}


@pytest.mark.parametrize("requested", [{}, {name: None for name in SWITCHES}])
def test_a_patch_that_sets_nothing_is_no_change_not_an_error(requested) -> None:
    assert preference_changes(requested) == {}


@pytest.mark.parametrize("name", ["email_verified", "user_id", "updated_at"])
def test_anything_but_a_switch_is_refused_naming_it(name: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        preference_changes({name: True, "task_completed": False})
    assert set(refused.value.fields) == {name}


VERIFIED = Preferences(1, email_verified=True)


@pytest.mark.parametrize("switch", ["task_shared_with_me", "task_completed", "comment_on_my_task"])
def test_a_verified_user_with_defaults_wants_every_kind(switch: str) -> None:
    assert wants(VERIFIED, switch)


@pytest.mark.parametrize(
    ("prefs", "switch"),
    [
        pytest.param(Preferences(1), "task_completed", id="unverified"),
        pytest.param(Preferences(1, email_verified=True, email_enabled=False), "task_completed", id="dnd"),
        pytest.param(Preferences(1, email_verified=True, task_completed=False), "task_completed", id="off"),
        pytest.param(Preferences(1, email_verified=True), "task_due_soon", id="due-soon-off-by-default"),
    ],
)
def test_no_email_unless_verified_not_disturbed_and_switched_on(prefs: Preferences, switch: str) -> None:
    assert not wants(prefs, switch)


def test_one_switch_off_leaves_the_others() -> None:
    prefs = Preferences(1, email_verified=True, task_completed=False)
    assert wants(prefs, "comment_on_my_task") and wants(prefs, "task_shared_with_me")
