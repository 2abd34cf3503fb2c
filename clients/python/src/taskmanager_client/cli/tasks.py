"""tasks ls/add/show/edit/done/rm."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from google.protobuf import struct_pb2

from taskmanager.tasks.v1 import tasks_pb2

from .app import Context
from .errors import USAGE, CliError
from .output import as_dict, key_values, print_json, print_table, truncate, when

PRIORITIES = ("low", "medium", "high")
SORT_FIELDS = ("id", "title", "priority", "completed", "created_at", "due_date")
TITLE_WIDTH = 48


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tasks = commands.add_parser("tasks", help="list, add, show, edit, complete and remove tasks")
    sub = tasks.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = sub.add_parser("ls", help="list your tasks (filters combine)")
    ls.add_argument("--status", choices=("open", "done", "all"), default="all")
    ls.add_argument("--priority", choices=PRIORITIES)
    _tag_option(ls, "only tasks with all these tags")
    ls.add_argument("--search", "-s", help="text in title or description")
    ls.add_argument("--overdue", action=argparse.BooleanOptionalAction, help="only (or no) overdue tasks")
    for name in ("due-before", "due-after", "created-before", "created-after"):
        ls.add_argument(f"--{name}", metavar="DATE", help="YYYY-MM-DD or an ISO date-time, inclusive")
    ls.add_argument("--sort", choices=SORT_FIELDS, default="id")
    ls.add_argument("--desc", action="store_true", help="sort descending")
    ls.add_argument("--limit", type=int, help="tasks per page, 1-100 (default 100)")
    ls.add_argument("--skip", type=int, help="tasks to skip (offset paging)")
    ls.add_argument("--page-token", help="continue from a previous page")
    ls.add_argument("--all", action="store_true", help="fetch every page")
    ls.set_defaults(run=list_tasks)

    add = sub.add_parser("add", help="create a task")
    add.add_argument("title")
    add.add_argument("--description", "-d")
    add.add_argument("--priority", "-p", choices=PRIORITIES)
    add.add_argument("--due", metavar="YYYY-MM-DD")
    _tag_option(add, "tags of the task")
    add.add_argument("--done", action="store_true", help="create it completed")
    add.set_defaults(run=add_task)

    show = sub.add_parser("show", help="a task with its comments")
    show.add_argument("id", type=int)
    show.set_defaults(run=show_task)

    edit = sub.add_parser("edit", help="change fields of a task")
    edit.add_argument("id", type=int)
    edit.add_argument("--title")
    edit.add_argument("--description", "-d")
    edit.add_argument("--clear-description", action="store_true")
    edit.add_argument("--priority", "-p", choices=PRIORITIES)
    edit.add_argument("--due", metavar="YYYY-MM-DD")
    edit.add_argument("--clear-due", action="store_true")
    _tag_option(edit, "replace the tags")
    edit.add_argument("--clear-tags", action="store_true")
    edit.add_argument("--done", action=argparse.BooleanOptionalAction, help="mark done (or not done)")
    edit.set_defaults(run=edit_task)

    done = sub.add_parser("done", help="mark a task done")
    done.add_argument("id", type=int)
    done.set_defaults(run=complete_task)

    rm = sub.add_parser("rm", help="delete a task (owner only)")
    rm.add_argument("id", type=int)
    rm.set_defaults(run=remove_task)
    for parser in (ls, add, show, edit, done, rm):
        parser.set_defaults(needs_auth=True)


def _tag_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--tag", "--tags", "-t", dest="tags", action="append", metavar="TAG[,TAG]", help=help_text
    )


def split_tags(values: Sequence[str] | None) -> list[str]:
    return [tag.strip() for value in values or () for tag in value.split(",") if tag.strip()]


def list_request(args: argparse.Namespace) -> tasks_pb2.ListTasksRequest:
    request = tasks_pb2.ListTasksRequest(
        tags=split_tags(args.tags), sort_by=args.sort, sort_order="desc" if args.desc else "asc"
    )
    if args.status != "all":
        request.completed = args.status == "done"
    optional = {
        "priority": args.priority,
        "search": args.search,
        "overdue": args.overdue,
        "due_before": args.due_before,
        "due_after": args.due_after,
        "created_before": args.created_before,
        "created_after": args.created_after,
        "limit": args.limit,
        "skip": args.skip,
        "page_token": args.page_token,
    }
    for name, value in optional.items():
        if value is not None:
            setattr(request, name, value)
    return request


def list_tasks(ctx: Context) -> int:
    request = list_request(ctx.args)
    reply = ctx.client.tasks.ListTasks(request)
    found = list(reply.tasks)
    while ctx.args.all and reply.next_page_token:
        request.page_token = reply.next_page_token
        reply = ctx.client.tasks.ListTasks(request)
        found += reply.tasks
    if ctx.json:
        result = as_dict(reply)
        result["tasks"] = [as_dict(task) for task in found]
        print_json(result)
        return 0
    print_table(("ID", "STATUS", "PRIORITY", "DUE", "TITLE", "TAGS"), (task_row(task) for task in found))
    shown = f"{len(found)} of {reply.total} task{'s' if reply.total != 1 else ''}"
    print(shown if ctx.args.all else f"{shown}, page {reply.page} of {max(reply.pages, 1)}")
    if reply.next_page_token and not ctx.args.all:
        print(f"more: --page-token {reply.next_page_token} (or --all)", file=sys.stderr)
    return 0


def task_row(task: tasks_pb2.Task) -> tuple[object, ...]:
    status = "done" if task.completed else "open"
    due = task.due_date if task.HasField("due_date") else "-"
    return (task.id, status, task.priority, due, truncate(task.title, TITLE_WIDTH), ",".join(task.tags))


def add_task(ctx: Context) -> int:
    args = ctx.args
    request = tasks_pb2.CreateTaskRequest(title=args.title, tags=split_tags(args.tags))
    for name, value in (
        ("description", args.description),
        ("priority", args.priority),
        ("due_date", args.due),
    ):
        if value is not None:
            setattr(request, name, value)
    if args.done:
        request.completed = True
    task = ctx.client.tasks.CreateTask(request)
    return ctx.report(task, f"Created task {task.id}: {task.title}")


def show_task(ctx: Context) -> int:
    task = ctx.client.tasks.GetTask(tasks_pb2.GetTaskRequest(id=ctx.args.id))
    if ctx.json:
        print_json(task)
        return 0
    key_values(
        [
            ("id", task.id),
            ("title", task.title),
            ("status", "done" if task.completed else "open"),
            ("priority", task.priority),
            ("due", task.due_date if task.HasField("due_date") else "-"),
            ("tags", ", ".join(task.tags) or "-"),
            ("owner", f"user {task.user_id}" + (f" (you: {task.permission})" if task.permission else "")),
            ("created", when(task.created_at, zone=" UTC")),
            ("updated", when(task.updated_at, task.HasField("updated_at"), " UTC")),
            ("description", task.description if task.HasField("description") else "-"),
        ]
    )
    print(f"\ncomments ({len(task.comments)}):")
    for comment in task.comments:
        print(f"  #{comment.id} user {comment.user_id}, {when(comment.created_at)} UTC: {comment.content}")
    return 0


def text(value: str) -> struct_pb2.Value:
    return struct_pb2.Value(string_value=value)


NULL = struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)


def edit_patch(args: argparse.Namespace) -> tasks_pb2.TaskPatch:
    patch = tasks_pb2.TaskPatch()
    if args.title is not None:
        patch.title.CopyFrom(text(args.title))
    if args.clear_description or args.description is not None:
        patch.description.CopyFrom(NULL if args.clear_description else text(args.description))
    if args.priority is not None:
        patch.priority.CopyFrom(text(args.priority))
    if args.clear_due or args.due is not None:
        patch.due_date.CopyFrom(NULL if args.clear_due else text(args.due))
    if args.clear_tags or args.tags is not None:
        tags = struct_pb2.ListValue(values=[text(tag) for tag in split_tags(args.tags)])
        patch.tags.CopyFrom(struct_pb2.Value(list_value=tags))
    if args.done is not None:
        patch.completed.CopyFrom(struct_pb2.Value(bool_value=args.done))
    return patch


def edit_task(ctx: Context) -> int:
    patch = edit_patch(ctx.args)
    if not patch.ListFields():
        raise CliError(
            "nothing to change: give at least one of --title, --description, --priority, ...", USAGE
        )
    return _update(ctx, patch, "Updated")


def complete_task(ctx: Context) -> int:
    return _update(ctx, tasks_pb2.TaskPatch(completed=struct_pb2.Value(bool_value=True)), "Completed")


def _update(ctx: Context, patch: tasks_pb2.TaskPatch, verb: str) -> int:
    task = ctx.client.tasks.UpdateTask(tasks_pb2.UpdateTaskRequest(id=ctx.args.id, patch=patch))
    return ctx.report(task, f"{verb} task {task.id}: {task.title}")


def remove_task(ctx: Context) -> int:
    ctx.client.tasks.DeleteTask(tasks_pb2.DeleteTaskRequest(id=ctx.args.id))
    return ctx.report({"deleted": ctx.args.id}, f"Deleted task {ctx.args.id}.")
