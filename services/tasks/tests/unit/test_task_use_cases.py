"""The use cases of tasks against the in-memory unit of work (conftest.py): the rules, who may do
what, and the events each change commits (and that refused or no-op changes commit none)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tm_common.errors import InvalidArgument, NotFound, PermissionDenied
from tm_tasks.domain.access import Permission
from tm_tasks.domain.listing import list_query
from tm_tasks.domain.tasks import new_task
from tm_tasks.service import tasks

OWNER, EDITOR, VIEWER, STRANGER = 1, 2, 3, 4


@pytest.fixture
def shared(fake):  # type: ignore[no-untyped-def]
    """A task of OWNER, shared with EDITOR (edit) and VIEWER (view)."""
    task = fake.task(OWNER, title="shared", tags=("home",))
    fake.share(task, EDITOR, "editor", Permission.EDIT)
    fake.share(task, VIEWER, "viewer", Permission.VIEW)
    return task


async def test_create_stores_the_task_and_commits_its_event(fake) -> None:
    task = await tasks.create_task(fake.deps, OWNER, new_task("Buy milk", priority="high", tags=["home"]))
    assert fake.state.tasks[task.id] == task
    assert (task.title, task.priority, task.tags, task.user_id) == ("Buy milk", "high", ("home",), OWNER)
    [event] = fake.events()
    assert (event.type, event.task_id, event.actor_user_id) == ("task.created", task.id, OWNER)
    assert event.task_created.task.title == "Buy milk"


@pytest.mark.parametrize(
    ("user", "allowed"), [(OWNER, True), (EDITOR, True), (VIEWER, True), (STRANGER, False)]
)
async def test_get_needs_at_least_view(fake, shared, user: int, allowed: bool) -> None:
    if allowed:
        assert (await tasks.get_task(fake.deps, user, shared.id)).task == shared
    else:
        with pytest.raises(NotFound, match=f"task {shared.id} not found"):
            await tasks.get_task(fake.deps, user, shared.id)


async def test_get_embeds_every_comment_oldest_first(fake, shared) -> None:
    other = fake.task(OWNER, title="other")
    fake.comment(other, OWNER, "elsewhere")
    written = [fake.comment(shared, user, f"c{n}") for n, user in enumerate([VIEWER, OWNER] * 600)]
    found = await tasks.get_task(fake.deps, VIEWER, shared.id)
    assert found.comments == written  # all 1200 (more than a comments page holds), in order
    assert fake.units == []  # one statement of the store, no unit of work
    assert fake.events() == []


async def test_get_of_a_task_without_comments_embeds_none(fake, shared) -> None:
    assert (await tasks.get_task(fake.deps, OWNER, shared.id)).comments == []


async def test_a_missing_task_and_a_strangers_task_answer_alike(fake, shared) -> None:
    with pytest.raises(NotFound) as missing:
        await tasks.get_task(fake.deps, STRANGER, 999)
    with pytest.raises(NotFound) as hidden:
        await tasks.get_task(fake.deps, STRANGER, shared.id)
    assert str(missing.value).replace("999", "N") == str(hidden.value).replace(str(shared.id), "N")


async def test_update_by_an_editor_changes_the_task_and_tells_everyone(fake, shared) -> None:
    after = await tasks.update_task(fake.deps, EDITOR, shared.id, {"title": "renamed", "priority": "low"})
    assert (after.title, after.priority) == ("renamed", "low")
    assert fake.state.tasks[shared.id] == after
    [event] = fake.events()
    assert event.type == "task.updated"
    assert list(event.audience_user_ids) == [OWNER, EDITOR, VIEWER]
    assert {change.field for change in event.task_updated.changes} == {"title", "priority"}


async def test_completing_a_task_is_task_completed_not_task_updated(fake, shared) -> None:
    await tasks.update_task(fake.deps, OWNER, shared.id, {"completed": True})
    assert fake.event_types() == ["task.completed"]


async def test_an_update_that_changes_nothing_commits_no_event(fake, shared) -> None:
    await tasks.update_task(fake.deps, OWNER, shared.id, {"title": "shared"})
    assert fake.events() == []


@pytest.mark.parametrize(("user", "error"), [(VIEWER, PermissionDenied), (STRANGER, NotFound)])
async def test_update_needs_edit(fake, shared, user: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        await tasks.update_task(fake.deps, user, shared.id, {"title": "mine"})
    assert fake.state.tasks[shared.id] == shared
    assert fake.events() == []


@pytest.mark.parametrize("patch", [{}, {"title": None}, {"priority": "urgent"}, {"colour": "red"}])
async def test_an_invalid_update_is_refused_before_anything_changes(fake, shared, patch) -> None:
    with pytest.raises(InvalidArgument):
        await tasks.update_task(fake.deps, OWNER, shared.id, patch)
    assert fake.state.tasks[shared.id] == shared
    assert fake.units == []  # not even a transaction was opened


async def test_only_the_owner_deletes_and_the_event_keeps_the_last_state(fake, shared) -> None:
    with pytest.raises(PermissionDenied):
        await tasks.delete_task(fake.deps, EDITOR, shared.id)
    await tasks.delete_task(fake.deps, OWNER, shared.id)
    assert shared.id not in fake.state.tasks
    assert fake.state.shares == {}  # shares go with the task
    [event] = fake.events()
    assert event.type == "task.deleted"
    assert event.task_deleted.task.title == "shared"
    assert list(event.audience_user_ids) == [OWNER, EDITOR, VIEWER]  # read before the delete


async def test_add_tags_merges_and_tells_only_what_is_new(fake, shared) -> None:
    after = await tasks.add_tags(fake.deps, EDITOR, shared.id, [" work ", "home", "work"])
    assert after.tags == ("home", "work")
    [event] = fake.events()
    assert event.type == "task.tags_added"
    assert list(event.tags_added.added) == ["work"]


async def test_adding_tags_it_already_has_changes_nothing(fake, shared) -> None:
    assert await tasks.add_tags(fake.deps, OWNER, shared.id, ["home"]) == shared
    assert fake.events() == []


async def test_remove_tag(fake, shared) -> None:
    after = await tasks.remove_tag(fake.deps, OWNER, shared.id, "home")
    assert after.tags == ()
    assert fake.event_types() == ["task.tag_removed"]
    with pytest.raises(NotFound, match="has no tag"):
        await tasks.remove_tag(fake.deps, OWNER, shared.id, "home")
    with pytest.raises(PermissionDenied):
        await tasks.remove_tag(fake.deps, VIEWER, shared.id, "home")


async def test_bulk_update_is_all_or_nothing(fake, shared) -> None:
    mine = fake.task(OWNER, title="mine")
    theirs = fake.task(STRANGER, title="theirs")
    with pytest.raises(NotFound, match=f"task {theirs.id} not found"):
        await tasks.bulk_update(fake.deps, OWNER, [mine.id, theirs.id], {"completed": True})
    assert not fake.state.tasks[mine.id].completed
    assert fake.events() == []
    updated = await tasks.bulk_update(fake.deps, OWNER, [mine.id, shared.id, mine.id], {"completed": True})
    assert [task.id for task in updated] == [mine.id, shared.id]  # in the order asked, once each
    assert fake.event_types() == ["task.completed", "task.completed"]


async def test_bulk_update_needs_edit_on_every_task(fake, shared) -> None:
    with pytest.raises(PermissionDenied):
        await tasks.bulk_update(fake.deps, VIEWER, [shared.id], {"completed": True})


@pytest.mark.parametrize("count", [0, tasks.MAX_BULK + 1])
async def test_bulk_update_takes_1_to_100_ids(fake, count: int) -> None:
    with pytest.raises(InvalidArgument, match="task_ids"):
        await tasks.bulk_update(fake.deps, OWNER, list(range(1, count + 1)), {"completed": True})


async def test_stats_are_computed_once_per_version_of_the_users_tasks(fake) -> None:
    fake.task(OWNER, completed=True, priority="high", tags=("a", "b"))
    fake.task(OWNER, due_date=date.today() - timedelta(days=3), tags=("a",))
    fake.task(STRANGER)
    stats = await tasks.task_stats(fake.deps, OWNER)
    assert (stats.total, stats.completed, stats.overdue) == (2, 1, 1)
    assert stats.by_priority == {"low": 0, "medium": 1, "high": 1}
    assert stats.by_tag == {"a": 2, "b": 1}
    await tasks.task_stats(fake.deps, OWNER)
    assert fake.store.computed == 1  # the second came from the cache
    await tasks.create_task(fake.deps, OWNER, new_task("another"))
    assert (await tasks.task_stats(fake.deps, OWNER)).total == 3  # a write names a new version
    assert fake.store.computed == 2


async def test_list_pages_with_totals_and_a_token_that_continues(fake) -> None:
    for n in range(5):
        fake.task(OWNER, title=f"t{n}", priority=["low", "high"][n % 2])
    query = list_query(sort_by="title", sort_order="desc", limit=2)
    first = await tasks.list_tasks(fake.deps, OWNER, query)
    assert [t.title for t in first.tasks] == ["t4", "t3"]
    assert (first.total, first.page, first.pages) == (5, 1, 3)
    second = await tasks.list_tasks(fake.deps, OWNER, query, first.next_page_token)
    assert [t.title for t in second.tasks] == ["t2", "t1"]
    assert second.page == 2
    third = await tasks.list_tasks(fake.deps, OWNER, query, second.next_page_token)
    assert [t.title for t in third.tasks] == ["t0"]
    assert third.next_page_token == ""
    assert fake.store.counted == 1  # the total is cached under the user's version


async def test_a_page_token_is_the_callers_own(fake) -> None:
    for _ in range(3):
        fake.task(OWNER)
    page = await tasks.list_tasks(fake.deps, OWNER, list_query(limit=1))
    with pytest.raises(InvalidArgument, match="page_token"):
        await tasks.list_tasks(fake.deps, STRANGER, list_query(limit=1), page.next_page_token)


async def test_a_page_token_for_other_filters_is_refused(fake) -> None:
    for _ in range(3):
        fake.task(OWNER)
    page = await tasks.list_tasks(fake.deps, OWNER, list_query(limit=1))
    with pytest.raises(InvalidArgument, match="page_token"):
        await tasks.list_tasks(fake.deps, OWNER, list_query(limit=1, completed=True), page.next_page_token)


async def test_lists_hold_only_the_callers_tasks(fake, shared) -> None:
    fake.task(STRANGER)
    page = await tasks.list_tasks(fake.deps, EDITOR, list_query())
    assert page.tasks == [] and page.total == 0  # shared tasks are listed by shared-with-me
