"""share, unshare, shared (with me), comment, comments."""

from __future__ import annotations

import argparse

import grpc

from taskmanager.tasks.v1 import tasks_pb2

from .app import Context
from .output import print_json, print_table, truncate, when
from .pages import every_page
from .tasks import task_row


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    share = commands.add_parser("share", help="share a task with a user, or change their permission")
    share.add_argument("task_id", type=int)
    share.add_argument("username")
    share.add_argument("--permission", choices=("view", "edit"), default="view")
    share.set_defaults(run=share_task)

    unshare = commands.add_parser("unshare", help="stop sharing a task with a user")
    unshare.add_argument("task_id", type=int)
    unshare.add_argument("username")
    unshare.set_defaults(run=unshare_task)

    shared = commands.add_parser("shared", help="tasks others shared with you")
    shared.set_defaults(run=shared_with_me)

    comment = commands.add_parser("comment", help="comment on a task")
    comment.add_argument("task_id", type=int)
    comment.add_argument("text")
    comment.set_defaults(run=add_comment)

    comments = commands.add_parser("comments", help="a task's comments, oldest first")
    comments.add_argument("task_id", type=int)
    comments.set_defaults(run=list_comments)
    for parser in (share, unshare, shared, comment, comments):
        parser.set_defaults(needs_auth=True)


def share_task(ctx: Context) -> int:
    args = ctx.args
    request = tasks_pb2.ShareTaskRequest(
        task_id=args.task_id, shared_with_username=args.username, permission=args.permission
    )
    try:
        share = ctx.client.sharing.ShareTask(request)
    except grpc.RpcError as error:
        if not (isinstance(error, grpc.Call) and error.code() is grpc.StatusCode.ALREADY_EXISTS):
            raise
        share = ctx.client.sharing.UpdateSharePermission(
            tasks_pb2.UpdateSharePermissionRequest(
                task_id=args.task_id, username=args.username, permission=args.permission
            )
        )
    return ctx.report(
        share, f"Task {share.task_id} shared with {share.shared_with_username} ({share.permission})."
    )


def unshare_task(ctx: Context) -> int:
    args = ctx.args
    ctx.client.sharing.UnshareTask(tasks_pb2.UnshareTaskRequest(task_id=args.task_id, username=args.username))
    return ctx.report(
        {"task_id": args.task_id, "username": args.username, "shared": False},
        f"Task {args.task_id} no longer shared with {args.username}.",
    )


def shared_with_me(ctx: Context) -> int:
    tasks = every_page(
        ctx.client.sharing.ListSharedWithMe, tasks_pb2.ListSharedWithMeRequest(page_size=100), "tasks"
    )
    if ctx.json:
        print_json(tasks)
    else:
        rows = ((*task_row(task), task.permission, task.user_id) for task in tasks)
        print_table(("ID", "STATUS", "PRIORITY", "DUE", "TITLE", "TAGS", "PERMISSION", "OWNER"), rows)
    return 0


def add_comment(ctx: Context) -> int:
    comment = ctx.client.comments.CreateComment(
        tasks_pb2.CreateCommentRequest(task_id=ctx.args.task_id, content=ctx.args.text)
    )
    return ctx.report(comment, f"Comment {comment.id} added to task {comment.task_id}.")


def list_comments(ctx: Context) -> int:
    comments = every_page(
        ctx.client.comments.ListComments,
        tasks_pb2.ListCommentsRequest(task_id=ctx.args.task_id, page_size=100),
        "comments",
    )
    if ctx.json:
        print_json(comments)
    else:
        rows = ((c.id, c.user_id, when(c.created_at), truncate(c.content, 60)) for c in comments)
        print_table(("ID", "AUTHOR", "CREATED (UTC)", "TEXT"), rows)
    return 0
