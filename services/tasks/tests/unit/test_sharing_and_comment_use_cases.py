"""The use cases of sharing and comments against the in-memory unit of work (conftest.py)."""

from __future__ import annotations

import pytest

from tm_common.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from tm_tasks.domain.access import Permission
from tm_tasks.service import comments, sharing

OWNER, EDITOR, VIEWER, STRANGER, FRIEND = 1, 2, 3, 4, 5


@pytest.fixture
def shared(fake):  # type: ignore[no-untyped-def]
    """A task of OWNER, shared with EDITOR (edit) and VIEWER (view); FRIEND has an account."""
    for user_id, name in ((OWNER, "owner"), (EDITOR, "editor"), (VIEWER, "viewer"), (FRIEND, "friend")):
        fake.users.add(user_id, name)
    task = fake.task(OWNER, title="shared")
    fake.share(task, EDITOR, "editor", Permission.EDIT)
    fake.share(task, VIEWER, "viewer", Permission.VIEW)
    return task


async def share(fake, user_id: int, task_id: int, name: str, permission: str | None = None):  # type: ignore[no-untyped-def]
    return await sharing.share_task(fake.deps, fake.users, user_id, task_id, name, permission)


async def test_the_owner_shares_with_view_by_default_and_everyone_hears_of_it(fake, shared) -> None:
    granted = await share(fake, OWNER, shared.id, " Friend ")
    assert (granted.shared_with_user_id, granted.shared_with_username) == (FRIEND, "friend")
    assert granted.permission == Permission.VIEW
    [event] = fake.events()
    assert event.type == "task.shared"
    assert list(event.audience_user_ids) == [OWNER, EDITOR, VIEWER, FRIEND]


@pytest.mark.parametrize(
    ("user", "name", "error"),
    [
        (EDITOR, "friend", PermissionDenied),  # only the owner shares
        (STRANGER, "friend", NotFound),  # and a stranger learns nothing
        (OWNER, "nobody", NotFound),
        (OWNER, "owner", InvalidArgument),  # yourself
        (OWNER, "editor", AlreadyExists),
        (OWNER, "x" * 51, InvalidArgument),  # no account has such a name: not even looked up
        (OWNER, "   ", InvalidArgument),
    ],
)
async def test_sharing_refusals_change_nothing(fake, shared, user: int, name: str, error: type) -> None:
    before = dict(fake.state.shares)
    with pytest.raises(error):
        await share(fake, user, shared.id, name)
    assert fake.state.shares == before
    assert fake.events() == []


async def test_an_unknown_permission_word_is_a_400(fake, shared) -> None:
    with pytest.raises(InvalidArgument, match="permission"):
        await share(fake, OWNER, shared.id, "friend", "admin")


async def test_changing_a_permission_tells_old_and_new(fake, shared) -> None:
    after = await sharing.change_permission(fake.deps, OWNER, shared.id, "VIEWER", "edit")
    assert after.permission == Permission.EDIT
    [event] = fake.events()
    assert event.type == "task.share_permission_changed"
    assert await sharing.change_permission(fake.deps, OWNER, shared.id, "viewer", "edit") == after
    assert len(fake.events()) == 1  # the same permission again: nothing to tell


async def test_unsharing_tells_the_user_who_loses_access(fake, shared) -> None:
    await sharing.unshare_task(fake.deps, OWNER, shared.id, "viewer")
    [event] = fake.events()
    assert event.type == "task.unshared"
    assert VIEWER in event.audience_user_ids  # read before the share went
    with pytest.raises(NotFound, match="not shared with"):
        await sharing.unshare_task(fake.deps, OWNER, shared.id, "viewer")


async def test_shared_with_me_pages_by_task_id(fake) -> None:
    tasks = [fake.task(OWNER) for _ in range(3)]
    for task in tasks:
        fake.share(task, FRIEND, "friend", Permission.VIEW)
    page, last = await sharing.shared_with_me(fake.deps, FRIEND, 2, 0)
    assert [task.id for task, _ in page] == [tasks[0].id, tasks[1].id]
    rest, end = await sharing.shared_with_me(fake.deps, FRIEND, 2, last)
    assert [task.id for task, _ in rest] == [tasks[2].id] and end == 0
    with pytest.raises(InvalidArgument, match="page_size"):
        await sharing.shared_with_me(fake.deps, FRIEND, 1001, 0)


async def test_check_access_answers_other_services(fake, shared) -> None:
    access = await sharing.check_access(fake.deps, shared.id, VIEWER)
    assert (access.permission, access.owner_user_id, access.audience) == (
        Permission.VIEW,
        OWNER,
        [OWNER, EDITOR, VIEWER],
    )
    assert (await sharing.check_access(fake.deps, shared.id, STRANGER)).permission is None
    with pytest.raises(NotFound):
        await sharing.check_access(fake.deps, 999, OWNER)


async def test_anyone_who_can_view_comments(fake, shared) -> None:
    comment = await comments.add_comment(fake.deps, VIEWER, shared.id, "looks good")
    assert (comment.task_id, comment.user_id, comment.content) == (shared.id, VIEWER, "looks good")
    [event] = fake.events()
    assert event.type == "comment.added"
    with pytest.raises(NotFound):
        await comments.add_comment(fake.deps, STRANGER, shared.id, "hello")
    with pytest.raises(InvalidArgument, match="content"):
        await comments.add_comment(fake.deps, OWNER, shared.id, "   ")


async def test_comments_list_oldest_first_in_pages(fake, shared) -> None:
    made = [fake.comment(shared, OWNER, f"c{n}") for n in range(3)]
    page, last = await comments.list_comments(fake.deps, VIEWER, shared.id, 2, 0)
    assert page == made[:2]
    rest, end = await comments.list_comments(fake.deps, VIEWER, shared.id, 2, last)
    assert rest == made[2:] and end == 0
    with pytest.raises(NotFound):
        await comments.list_comments(fake.deps, STRANGER, shared.id, 0, 0)


async def test_only_the_author_edits_a_comment(fake, shared) -> None:
    comment = fake.comment(shared, EDITOR, "first")
    with pytest.raises(PermissionDenied):
        await comments.edit_comment(fake.deps, OWNER, shared.id, comment.id, "owner's words")
    after = await comments.edit_comment(fake.deps, EDITOR, 0, comment.id, "second")  # the alias
    assert after.content == "second" and after.updated_at is not None
    [event] = fake.events()
    assert event.type == "comment.updated"


async def test_the_author_or_the_owner_deletes_a_comment(fake, shared) -> None:
    by_viewer = fake.comment(shared, VIEWER)
    by_editor = fake.comment(shared, EDITOR)
    with pytest.raises(PermissionDenied):
        await comments.delete_comment(fake.deps, EDITOR, shared.id, by_viewer.id)
    await comments.delete_comment(fake.deps, VIEWER, shared.id, by_viewer.id)
    await comments.delete_comment(fake.deps, OWNER, 0, by_editor.id)
    assert fake.state.comments == {}
    assert fake.event_types() == ["comment.deleted", "comment.deleted"]


async def test_a_stranger_cannot_tell_a_comment_from_a_missing_one(fake, shared) -> None:
    comment = fake.comment(shared, OWNER)
    for task_id in (0, shared.id):  # the alias, then the full path
        with pytest.raises(NotFound) as real:
            await comments.delete_comment(fake.deps, STRANGER, task_id, comment.id)
        with pytest.raises(NotFound) as missing:
            await comments.delete_comment(fake.deps, STRANGER, task_id, comment.id + 1000)
        assert str(real.value) == str(missing.value).replace(str(comment.id + 1000), str(comment.id))


async def test_a_comment_named_under_another_task_is_not_found(fake, shared) -> None:
    other = fake.task(OWNER)
    comment = fake.comment(shared, OWNER)
    with pytest.raises(NotFound, match=f"comment {comment.id} not found"):
        await comments.edit_comment(fake.deps, OWNER, other.id, comment.id, "moved?")
