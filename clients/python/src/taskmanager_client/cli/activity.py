"""activity (your audit log, or one task's timeline) and prefs (email notifications)."""

from __future__ import annotations

import argparse

from google.protobuf import json_format

from taskmanager.activity.v1 import activity_pb2
from taskmanager.notify.v1 import notify_pb2

from .app import Context
from .errors import USAGE, CliError
from .output import key_values, print_json, print_table, truncate, when
from .pages import every_page

# prefs set flag -> UpdatePreferencesRequest field.
SWITCHES = {
    "email": ("email_enabled", "all email notifications (off = do not disturb)"),
    "task-shared": ("task_shared_with_me", "a task was shared with you"),
    "task-completed": ("task_completed", "a task of yours was completed"),
    "comments": ("comment_on_my_task", "a comment on your task"),
    "due-soon": ("task_due_soon", "a task of yours is due soon"),
}


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    activity = commands.add_parser("activity", help="your recent actions, or a task's timeline")
    activity.add_argument(
        "--task", type=int, metavar="ID", help="the timeline of this task (everyone's actions)"
    )
    activity.add_argument(
        "--action", choices=("created", "updated", "deleted", "shared", "unshared", "uploaded")
    )
    activity.add_argument("--type", dest="resource_type", choices=("task", "comment", "file"))
    activity.add_argument("--since", metavar="DATE", help="YYYY-MM-DD or an ISO date-time, inclusive")
    activity.add_argument("--until", metavar="DATE", help="YYYY-MM-DD or an ISO date-time, inclusive")
    activity.add_argument("--limit", type=int, help="entries, 1-100 (default 50)")
    activity.set_defaults(run=show_activity, needs_auth=True)

    prefs = commands.add_parser("prefs", help="email notification preferences")
    sub = prefs.add_subparsers(dest="action", metavar="ACTION")
    prefs.set_defaults(run=show_prefs, needs_auth=True)
    update = sub.add_parser("set", help="turn notifications on (--x) or off (--no-x)")
    for flag, (_, help_text) in SWITCHES.items():
        update.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, help=help_text)
    update.set_defaults(run=set_prefs, needs_auth=True)
    subscribe = sub.add_parser("subscribe", help="send a verification code to your email")
    subscribe.set_defaults(run=subscribe_email, needs_auth=True)
    verify = sub.add_parser("verify", help="verify your email with the code it received")
    verify.add_argument("code")
    verify.set_defaults(run=verify_email, needs_auth=True)


def show_activity(ctx: Context) -> int:
    args = ctx.args
    if args.task is not None:
        if any(v is not None for v in (args.action, args.resource_type, args.since, args.until, args.limit)):
            raise CliError("--task shows the whole timeline; it takes no other filter", USAGE)
        entries = _timeline(ctx, args.task)
    else:
        request = activity_pb2.ListActivityRequest()
        for name, value in (
            ("action", args.action),
            ("resource_type", args.resource_type),
            ("start_date", args.since),
            ("end_date", args.until),
            ("limit", args.limit),
        ):
            if value is not None:
                setattr(request, name, value)
        entries = list(ctx.client.activity.ListActivity(request).entries)
    if ctx.json:
        print_json(entries)
    else:
        rows = (
            (
                when(e.created_at),
                e.username or e.user_id,
                e.action,
                f"{e.resource_type} {e.resource_id}",
                summary(e),
            )
            for e in entries
        )
        print_table(("TIME (UTC)", "USER", "ACTION", "RESOURCE", "DETAILS"), rows)
    return 0


def _timeline(ctx: Context, task_id: int) -> list[activity_pb2.ActivityEntry]:
    return every_page(
        ctx.client.activity.GetTaskTimeline,
        activity_pb2.GetTaskTimelineRequest(task_id=task_id, page_size=100),
        "entries",
    )


def summary(entry: activity_pb2.ActivityEntry) -> str:
    details = json_format.MessageToDict(entry.details) if entry.HasField("details") else {}
    if changed := details.get("changed_fields"):
        text = "changed " + ", ".join(str(name) for name in changed)
    elif "shared_with_username" in details:
        text = f"with {details['shared_with_username']} ({details.get('permission', '?')})"
    elif "filename" in details:
        text = str(details["filename"])
    elif "content" in details:
        text = str(details["content"])
    else:
        text = str(details.get("title", ""))
    return truncate(text, 50)


def show_prefs(ctx: Context) -> int:
    return _print_prefs(ctx, ctx.client.notify.GetPreferences(notify_pb2.GetPreferencesRequest()))


def set_prefs(ctx: Context) -> int:
    request = notify_pb2.UpdatePreferencesRequest()
    for flag, (field, _) in SWITCHES.items():
        value = getattr(ctx.args, flag.replace("-", "_"))
        if value is not None:
            setattr(request, field, value)
    if not request.ListFields():
        raise CliError("nothing to change: give e.g. --email or --no-comments", USAGE)
    return _print_prefs(ctx, ctx.client.notify.UpdatePreferences(request))


def _print_prefs(ctx: Context, prefs: notify_pb2.Preferences) -> int:
    if ctx.json:
        print_json(prefs)
        return 0

    def on(value: bool) -> str:
        return "on" if value else "off"

    key_values(
        [
            ("email verified", "yes" if prefs.email_verified else "no (see `taskctl prefs subscribe`)"),
            ("email (all)", on(prefs.email_enabled)),
            ("task shared", on(prefs.task_shared_with_me)),
            ("task completed", on(prefs.task_completed)),
            ("comments", on(prefs.comment_on_my_task)),
            ("due soon", on(prefs.task_due_soon)),
        ]
    )
    return 0


def subscribe_email(ctx: Context) -> int:
    reply = ctx.client.notify.Subscribe(notify_pb2.SubscribeRequest())
    return ctx.report(reply, f"{reply.message} ({reply.email}); then run `taskctl prefs verify CODE`.")


def verify_email(ctx: Context) -> int:
    reply = ctx.client.notify.VerifyEmail(notify_pb2.VerifyEmailRequest(code=ctx.args.code))
    return ctx.report(reply, f"{reply.message} ({reply.email})")
