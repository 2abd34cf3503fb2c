"""Comments as native gRPC through the gateway's port (CommentsService): the rules the JSON
clients meet, with PERMISSION_DENIED where the caller sees the task but lacks the permission,
NOT_FOUND where it may not know the task (or the comment) exists, and INVALID_ARGUMENT naming
`content` for bad content. ListComments pages with page_size and page_token, oldest first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from support.accounts import Account, bearer_metadata, log_in, new_account, new_user, unique
from support.errors import rpc_error, violated_fields
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

MISSING_ID = 2_147_483_647  # the largest int32: no task or comment has that id
DENIED = grpc.StatusCode.PERMISSION_DENIED
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture(scope="module")
def tasks_stub(gateway_channel) -> tasks_pb2_grpc.TasksServiceStub:
    return tasks_pb2_grpc.TasksServiceStub(gateway_channel)


@pytest.fixture(scope="module")
def sharing(gateway_channel) -> tasks_pb2_grpc.SharingServiceStub:
    return tasks_pb2_grpc.SharingServiceStub(gateway_channel)


@pytest.fixture(scope="module")
def comments(gateway_channel) -> tasks_pb2_grpc.CommentsServiceStub:
    return tasks_pb2_grpc.CommentsServiceStub(gateway_channel)


def code(call: Callable[[], Any]) -> grpc.StatusCode:
    return rpc_error(call).code()


def create_task(stub: tasks_pb2_grpc.TasksServiceStub, account: Account) -> tasks_pb2.Task:
    request = tasks_pb2.CreateTaskRequest(title=unique("task"))
    return stub.CreateTask(request, metadata=bearer_metadata(account))


def share(
    sharing: tasks_pb2_grpc.SharingServiceStub, owner: Account, task_id: int, username: str, permission: str
) -> tasks_pb2.Share:
    request = tasks_pb2.ShareTaskRequest(
        task_id=task_id, shared_with_username=username, permission=permission
    )
    return sharing.ShareTask(request, metadata=bearer_metadata(owner))


def unshare(sharing: tasks_pb2_grpc.SharingServiceStub, owner: Account, task_id: int, username: str) -> None:
    request = tasks_pb2.UnshareTaskRequest(task_id=task_id, username=username)
    sharing.UnshareTask(request, metadata=bearer_metadata(owner))


def add(
    comments: tasks_pb2_grpc.CommentsServiceStub, account: Account, task_id: int, content: str | None = None
) -> tasks_pb2.Comment:
    request = tasks_pb2.CreateCommentRequest(task_id=task_id, content=content or unique("comment "))
    return comments.CreateComment(request, metadata=bearer_metadata(account))


def page(
    comments: tasks_pb2_grpc.CommentsServiceStub,
    account: Account,
    task_id: int,
    page_size: int = 0,
    page_token: str = "",
) -> tasks_pb2.ListCommentsResponse:
    request = tasks_pb2.ListCommentsRequest(task_id=task_id, page_size=page_size, page_token=page_token)
    return comments.ListComments(request, metadata=bearer_metadata(account))


def listed(comments: tasks_pb2_grpc.CommentsServiceStub, account: Account, task_id: int) -> list[Any]:
    """All comments in one call (page_size 0), as comparable tuples."""
    reply = page(comments, account, task_id)
    assert reply.next_page_token == "", reply
    return [row_of(comment) for comment in reply.comments]


def row_of(comment: tasks_pb2.Comment) -> tuple[Any, ...]:
    return (
        comment.id,
        comment.task_id,
        comment.user_id,
        comment.content,
        comment.created_at.ToJsonString(),
        comment.updated_at.ToJsonString() if comment.HasField("updated_at") else None,
    )


def update(
    comments: tasks_pb2_grpc.CommentsServiceStub,
    account: Account,
    comment_id: int,
    content: str,
    task_id: int = 0,
) -> tasks_pb2.Comment:
    """UpdateComment; task_id 0 is the alias /comments/{comment_id}."""
    request = tasks_pb2.UpdateCommentRequest(task_id=task_id, comment_id=comment_id, content=content)
    return comments.UpdateComment(request, metadata=bearer_metadata(account))


def delete(
    comments: tasks_pb2_grpc.CommentsServiceStub, account: Account, comment_id: int, task_id: int = 0
) -> empty_pb2.Empty:
    """DeleteComment; task_id 0 is the alias /comments/{comment_id}."""
    request = tasks_pb2.DeleteCommentRequest(task_id=task_id, comment_id=comment_id)
    return comments.DeleteComment(request, metadata=bearer_metadata(account))


def add_raw(
    comments: tasks_pb2_grpc.CommentsServiceStub, account: Account, task_id: int, content: str
) -> tasks_pb2.Comment:
    """CreateComment with exactly this content (add() replaces an empty one)."""
    request = tasks_pb2.CreateCommentRequest(task_id=task_id, content=content)
    return comments.CreateComment(request, metadata=bearer_metadata(account))


# -- CreateComment / ListComments ------------------------------------------------------------
def test_create_and_list(tasks_stub, comments, account) -> None:
    task = create_task(tasks_stub, account)
    created = add(comments, account, task.id, "  hello  ")
    assert created.id > 0
    assert (created.task_id, created.user_id, created.content) == (task.id, account.id, "  hello  ")
    assert created.created_at.seconds > 0
    assert not created.HasField("updated_at")
    assert listed(comments, account, task.id) == [row_of(created)]


def test_list_without_comments_is_empty(tasks_stub, comments, account) -> None:
    task = create_task(tasks_stub, account)
    for page_size in (0, 1, 10):
        reply = page(comments, account, task.id, page_size)
        assert (list(reply.comments), reply.next_page_token) == ([], "")


@pytest.mark.parametrize("content", ["", " ", "\t\n ", "a" * 1001, "é" * 1001])
def test_create_with_bad_content_is_invalid_argument(tasks_stub, comments, account, content) -> None:
    task = create_task(tasks_stub, account)
    error = rpc_error(lambda: add_raw(comments, account, task.id, content))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"content"}
    assert listed(comments, account, task.id) == []


def test_1000_characters_are_accepted(tasks_stub, comments, account) -> None:
    task = create_task(tasks_stub, account)
    assert add(comments, account, task.id, "é" * 1000).content == "é" * 1000


# -- paging ----------------------------------------------------------------------------------
def walk(
    comments: tasks_pb2_grpc.CommentsServiceStub,
    account: Account,
    task_id: int,
    page_size: int,
    between: Callable[[int], None] | None = None,
) -> list[list[int]]:
    """The ids of each page, following next_page_token until it is empty."""
    pages: list[list[int]] = []
    token = ""
    while True:
        reply = page(comments, account, task_id, page_size, token)
        assert len(reply.comments) <= page_size, reply
        pages.append([comment.id for comment in reply.comments])
        token = reply.next_page_token
        if not token:
            return pages
        assert len(pages) < 50, "next_page_token never ran out"
        if between is not None:
            between(len(pages))


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 50])
def test_pages_walk_every_comment_once_oldest_first(
    http, tasks_stub, sharing, comments, account, page_size
) -> None:
    task = create_task(tasks_stub, account)
    viewer = new_account(http)
    share(sharing, account, task.id, viewer.username, "view")
    created = [add(comments, (account, viewer)[index % 2], task.id).id for index in range(7)]
    for reader in (account, viewer):
        pages = walk(comments, reader, task.id, page_size)
        assert [comment_id for ids in pages for comment_id in ids] == created
        assert all(pages), pages  # no empty page
        assert len(pages) == -(-7 // page_size)


def test_a_walk_while_comments_are_added_and_deleted(tasks_stub, comments, account) -> None:
    task = create_task(tasks_stub, account)
    created = [add(comments, account, task.id).id for _ in range(6)]
    added: list[int] = []

    def between(pages: int) -> None:
        if pages == 1:  # drop the first page's last comment, then add one at the end
            delete(comments, account, created[1], task.id)
            added.append(add(comments, account, task.id).id)

    pages = walk(comments, account, task.id, 2, between)
    seen = [comment_id for ids in pages for comment_id in ids]
    assert seen == created + added, pages


def test_a_garbage_page_token_is_invalid_argument_naming_page_token(tasks_stub, comments, account) -> None:
    task = create_task(tasks_stub, account)
    for _ in range(3):
        add(comments, account, task.id)
    error = rpc_error(lambda: page(comments, account, task.id, 1, "garbage"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"page_token"}


# -- UpdateComment / DeleteComment -----------------------------------------------------------
@pytest.mark.parametrize("alias", [False, True], ids=["task-path", "alias"])
def test_update_sets_updated_at(tasks_stub, comments, account, alias) -> None:
    task = create_task(tasks_stub, account)
    created = add(comments, account, task.id, "before")
    updated = update(comments, account, created.id, "after", 0 if alias else task.id)
    assert (updated.id, updated.task_id, updated.user_id, updated.content) == (
        created.id,
        task.id,
        account.id,
        "after",
    )
    assert updated.created_at == created.created_at
    assert updated.HasField("updated_at")
    assert updated.updated_at.ToDatetime() >= updated.created_at.ToDatetime()
    assert listed(comments, account, task.id) == [row_of(updated)]


@pytest.mark.parametrize("alias", [False, True], ids=["task-path", "alias"])
@pytest.mark.parametrize("content", ["", "   ", "a" * 1001])
def test_update_with_bad_content_is_invalid_argument(tasks_stub, comments, account, content, alias) -> None:
    task = create_task(tasks_stub, account)
    created = add(comments, account, task.id)
    error = rpc_error(lambda: update(comments, account, created.id, content, 0 if alias else task.id))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"content"}
    assert listed(comments, account, task.id) == [row_of(created)]


@pytest.mark.parametrize("alias", [False, True], ids=["task-path", "alias"])
def test_delete(tasks_stub, comments, account, alias) -> None:
    task = create_task(tasks_stub, account)
    kept, dropped = add(comments, account, task.id), add(comments, account, task.id)
    assert delete(comments, account, dropped.id, 0 if alias else task.id) == empty_pb2.Empty()
    assert listed(comments, account, task.id) == [row_of(kept)]
    assert code(lambda: delete(comments, account, dropped.id, task.id)) == NOT_FOUND
    assert code(lambda: delete(comments, account, dropped.id)) == NOT_FOUND
    assert code(lambda: update(comments, account, dropped.id, "x")) == NOT_FOUND


def test_ids_that_do_not_match_are_not_found(tasks_stub, comments, account) -> None:
    mine, other = create_task(tasks_stub, account), create_task(tasks_stub, account)
    created = add(comments, account, mine.id)
    assert code(lambda: update(comments, account, created.id, "x", other.id)) == NOT_FOUND
    assert code(lambda: delete(comments, account, created.id, other.id)) == NOT_FOUND
    assert code(lambda: update(comments, account, created.id, "x", MISSING_ID)) == NOT_FOUND
    assert code(lambda: delete(comments, account, created.id, MISSING_ID)) == NOT_FOUND
    for task_id in (0, mine.id):
        assert code(lambda t=task_id: update(comments, account, MISSING_ID, "x", t)) == NOT_FOUND
        assert code(lambda t=task_id: delete(comments, account, MISSING_ID, t)) == NOT_FOUND
    assert code(lambda: add(comments, account, MISSING_ID)) == NOT_FOUND
    assert code(lambda: page(comments, account, MISSING_ID)) == NOT_FOUND
    assert listed(comments, account, mine.id) == [row_of(created)]


# -- who may do what -------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["owner", "edit", "view", "stranger"])
def test_permissions(http, tasks_stub, sharing, comments, role) -> None:
    """Every method at both paths for one role, against comments by a VIEW commenter ("other")
    and by the actor ("own"; a stranger's were written before their share was revoked)."""
    owner = new_account(http)
    task = create_task(tasks_stub, owner)
    editor, viewer, commenter = new_user(http), new_user(http), new_account(http)
    share(sharing, owner, task.id, editor.username, "edit")
    share(sharing, owner, task.id, viewer.username, "view")
    share(sharing, owner, task.id, commenter.username, "view")
    actor = {"owner": owner, "edit": editor, "view": viewer, "stranger": new_account(http)}[role]
    if role in ("edit", "view"):
        actor = log_in(http, actor)
    if role == "stranger":
        share(sharing, owner, task.id, actor.username, "view")
    own = [add(comments, actor, task.id, f"own {index}") for index in range(4)]
    if role == "stranger":
        unshare(sharing, owner, task.id, actor.username)
    other = [add(comments, commenter, task.id, f"other {index}") for index in range(4)]
    expected = {comment.id: row_of(comment) for comment in own + other}

    if role == "stranger":
        assert code(lambda: page(comments, actor, task.id)) == NOT_FOUND
        assert code(lambda: add(comments, actor, task.id, "new")) == NOT_FOUND
        calls = [
            lambda c: update(comments, actor, c.id, "x", task.id),
            lambda c: update(comments, actor, c.id, "x"),
            lambda c: delete(comments, actor, c.id, task.id),
            lambda c: delete(comments, actor, c.id),
        ]
        for comment in own + other:
            for attempt in calls:
                assert code(lambda a=attempt, c=comment: a(c)) == NOT_FOUND, comment
        assert listed(comments, owner, task.id) == sorted(expected.values())
        return

    assert listed(comments, actor, task.id) == sorted(expected.values())
    new = add(comments, actor, task.id, "new")
    assert (new.task_id, new.user_id, new.content) == (task.id, actor.id, "new")
    expected[new.id] = row_of(new)
    # Someone else's comment: never editable; deletable by the task's owner only.
    assert code(lambda: update(comments, actor, other[0].id, "x", task.id)) == DENIED
    assert code(lambda: update(comments, actor, other[0].id, "x")) == DENIED
    if role == "owner":
        delete(comments, actor, other[0].id, task.id)
        delete(comments, actor, other[1].id)
        del expected[other[0].id], expected[other[1].id]
    else:
        assert code(lambda: delete(comments, actor, other[0].id, task.id)) == DENIED
        assert code(lambda: delete(comments, actor, other[1].id)) == DENIED
    # The actor's own comments: editable and deletable at both paths.
    for comment, task_id in ((own[0], task.id), (own[1], 0)):
        updated = update(comments, actor, comment.id, "edited", task_id)
        assert (updated.content, updated.HasField("updated_at")) == ("edited", True)
        expected[comment.id] = row_of(updated)
    delete(comments, actor, own[2].id, task.id)
    delete(comments, actor, own[3].id)
    del expected[own[2].id], expected[own[3].id]
    assert listed(comments, owner, task.id) == sorted(expected.values())


def test_without_a_token_every_method_is_unauthenticated(tasks_stub, comments, account) -> None:
    task = create_task(tasks_stub, account)
    created = add(comments, account, task.id)
    calls = [
        lambda: comments.CreateComment(tasks_pb2.CreateCommentRequest(task_id=task.id, content="x")),
        lambda: comments.ListComments(tasks_pb2.ListCommentsRequest(task_id=task.id)),
        lambda: comments.UpdateComment(
            tasks_pb2.UpdateCommentRequest(task_id=task.id, comment_id=created.id, content="x")
        ),
        lambda: comments.DeleteComment(
            tasks_pb2.DeleteCommentRequest(task_id=task.id, comment_id=created.id)
        ),
    ]
    for attempt in calls:
        assert code(attempt) == grpc.StatusCode.UNAUTHENTICATED
    assert listed(comments, account, task.id) == [row_of(created)]


# -- the task's life -------------------------------------------------------------------------
def test_a_revoked_viewer_gets_not_found(http, tasks_stub, sharing, comments, account) -> None:
    task = create_task(tasks_stub, account)
    viewer = new_account(http)
    share(sharing, account, task.id, viewer.username, "view")
    theirs = add(comments, viewer, task.id)
    unshare(sharing, account, task.id, viewer.username)
    assert code(lambda: page(comments, viewer, task.id)) == NOT_FOUND
    assert code(lambda: add(comments, viewer, task.id)) == NOT_FOUND
    assert code(lambda: update(comments, viewer, theirs.id, "x", task.id)) == NOT_FOUND
    assert code(lambda: update(comments, viewer, theirs.id, "x")) == NOT_FOUND
    assert code(lambda: delete(comments, viewer, theirs.id, task.id)) == NOT_FOUND
    assert code(lambda: delete(comments, viewer, theirs.id)) == NOT_FOUND


def test_deleting_the_task_removes_its_comments(http, tasks_stub, sharing, comments, account) -> None:
    task = create_task(tasks_stub, account)
    editor = new_account(http)
    share(sharing, account, task.id, editor.username, "edit")
    mine, theirs = add(comments, account, task.id), add(comments, editor, task.id)
    tasks_stub.DeleteTask(tasks_pb2.DeleteTaskRequest(id=task.id), metadata=bearer_metadata(account))
    for caller, comment in ((account, mine), (editor, theirs)):
        assert code(lambda c=caller: page(comments, c, task.id)) == NOT_FOUND
        assert code(lambda c=caller: add(comments, c, task.id)) == NOT_FOUND
        assert code(lambda c=caller, m=comment: update(comments, c, m.id, "x")) == NOT_FOUND
        assert code(lambda c=caller, m=comment: delete(comments, c, m.id)) == NOT_FOUND
