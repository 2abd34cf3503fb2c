from datetime import date

import pytest

from tm_common.errors import InvalidArgument
from tm_tasks.domain.tasks import changes, new_task


def test_new_task_defaults_and_trimming() -> None:
    task = new_task(title="  Buy milk  ")
    assert (task.title, task.priority, task.completed, task.tags) == ("Buy milk", "medium", False, ())
    assert task.description is None and task.due_date is None


def test_tags_are_trimmed_and_deduplicated_in_order() -> None:
    assert new_task(title="t", tags=["b", " a ", "b", "a"]).tags == ("b", "a")


@pytest.mark.parametrize(
    "fields, bad",
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "t", "description": "d" * 1001}, "description"),
        ({"title": "t", "priority": "urgent"}, "priority"),
        ({"title": "t", "priority": "HIGH"}, "priority"),
        ({"title": "t", "due_date": "2026-13-01"}, "due_date"),
        ({"title": "t", "due_date": "2026-02-30"}, "due_date"),
        ({"title": "t", "due_date": "tomorrow"}, "due_date"),
        ({"title": "t", "tags": [""]}, "tags"),
        ({"title": "t", "tags": ["x" * 51]}, "tags"),
        ({"title": "t", "tags": [str(i) for i in range(51)]}, "tags"),
        ({"title": "t", "tags": ["x"] * 100_000}, "tags"),
        ({"title": "a\x00b"}, "title"),
        ({"title": "t", "description": "a\x00b"}, "description"),
        ({"title": "t", "tags": ["a\x00"]}, "tags"),
        ({"title": "t", "due_date": "9999-12-31"}, "due_date"),
        ({"title": "t", "due_date": "0000-01-01"}, "due_date"),
    ],
)
def test_new_task_rules_name_the_field(fields, bad) -> None:
    with pytest.raises(InvalidArgument) as error:
        new_task(**fields)
    assert set(error.value.fields) == {bad}


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as error:
        new_task(title="", priority="x", due_date="y")
    assert set(error.value.fields) == {"title", "priority", "due_date"}


def test_boundaries_are_allowed() -> None:
    new_task(title="x" * 200, description="d" * 1000, tags=["t" * 50] + [str(i) for i in range(49)])


def test_changes_keep_only_sent_fields() -> None:
    assert changes({"completed": True}) == {"completed": True}
    assert changes({"title": " new ", "due_date": "2026-01-02"}) == {
        "title": "new",
        "due_date": date(2026, 1, 2),
    }


def test_null_clears_optional_fields_and_empties_tags() -> None:
    assert changes({"description": None, "due_date": None, "tags": None}) == {
        "description": None,
        "due_date": None,
        "tags": (),
    }


@pytest.mark.parametrize("field", ["title", "completed", "priority"])
def test_null_for_a_required_field_is_refused(field) -> None:
    with pytest.raises(InvalidArgument) as error:
        changes({field: None})
    assert set(error.value.fields) == {field}


@pytest.mark.parametrize(
    "patch, bad",
    [
        ({"completed": "yes"}, "completed"),
        ({"completed": 1}, "completed"),
        ({"title": 5}, "title"),
        ({"tags": "a,b"}, "tags"),
        ({"tags": [1, 2]}, "tags"),
        ({"due_date": 20260101}, "due_date"),
        ({"owner": 3}, "owner"),
    ],
)
def test_wrong_kinds_are_refused(patch, bad) -> None:
    with pytest.raises(InvalidArgument) as error:
        changes(patch)
    assert set(error.value.fields) == {bad}


def test_an_empty_patch_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        changes({})
