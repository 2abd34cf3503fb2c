"""Which actions email whom, through Envoy: the deliveries the notify service queues for each
triggering event (read once notify has consumed the event, so "none" is a settled answer)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.accounts import Account, new_account
from support.comments import create_comment
from support.events import event_of_type, task_events
from support.notify import (
    mail_log,
    notify_deliveries,
    notify_processed,
    notify_sql,
    recipients_of,
    set_notify_preferences,
    subscribe_email,
    verified_account,
)
from support.polling import wait_until
from support.sharing import share_task
from support.tasks import create_task


def complete(http: httpx.Client, account: Account, task_id: int) -> None:
    response = http.patch(f"/tasks/{task_id}", json={"completed": True}, headers=account.headers)
    assert response.status_code == 200, response.text


def team(http: httpx.Client, stack) -> tuple[Account, Account, Account, dict[str, Any]]:
    """Owner, editor and viewer, all verified, on one task the owner shared with both."""
    owner, editor, viewer = (verified_account(http, stack) for _ in range(3))
    task = create_task(http, owner)
    share_task(http, owner, task["id"], editor.username, "edit")
    share_task(http, owner, task["id"], viewer.username, "view")
    return owner, editor, viewer, task


def test_sharing_emails_the_user_it_is_shared_with(http, stack) -> None:
    owner, bob = verified_account(http, stack), verified_account(http, stack)
    task = create_task(http, owner, title="Quarterly report")
    share_task(http, owner, task["id"], bob.username, "edit")
    shared = event_of_type(stack.redis_url, task["id"], "task.shared")
    assert recipients_of(stack, shared.event_id) == {bob.id: "task.shared"}

    mail = wait_until(
        lambda: [m for m in mail_log(stack, bob.id) if m["kind"] == "task.shared"], "the email to bob"
    )
    assert len(mail) == 1
    assert mail[0]["email"] == bob.email
    assert "Quarterly report" in mail[0]["subject"]
    assert owner.username in mail[0]["body"] and "edit access" in mail[0]["body"]
    [row] = notify_deliveries(stack, [shared.event_id])
    assert (row["status"], row["attempts"]) == ("sent", 1)


def test_completing_emails_everyone_who_sees_the_task_but_the_actor(http, stack) -> None:
    owner, editor, viewer, task = team(http, stack)
    complete(http, editor, task["id"])
    completed = event_of_type(stack.redis_url, task["id"], "task.completed")
    assert recipients_of(stack, completed.event_id) == {
        owner.id: "task.completed",
        viewer.id: "task.completed",
    }


def test_the_owner_completing_a_shared_task_emails_the_others(http, stack) -> None:
    owner, editor, viewer, task = team(http, stack)
    complete(http, owner, task["id"])
    completed = event_of_type(stack.redis_url, task["id"], "task.completed")
    assert recipients_of(stack, completed.event_id) == {
        editor.id: "task.completed",
        viewer.id: "task.completed",
    }


def test_a_comment_emails_everyone_who_sees_the_task_but_its_author(http, stack) -> None:
    owner, editor, viewer, task = team(http, stack)
    comment = create_comment(http, viewer, task["id"], "Looks good to me")
    added = event_of_type(stack.redis_url, task["id"], "comment.added")
    assert recipients_of(stack, added.event_id) == {owner.id: "comment.added", editor.id: "comment.added"}
    mails = wait_until(
        lambda: [m for m in mail_log(stack, owner.id) if m["kind"] == "comment.added"], "the comment email"
    )
    assert comment["content"] in mails[0]["body"] and viewer.username in mails[0]["body"]


def test_acting_alone_on_an_unshared_task_emails_nobody(http, stack) -> None:
    owner = verified_account(http, stack)
    task = create_task(http, owner)
    create_comment(http, owner, task["id"])
    complete(http, owner, task["id"])
    for event_type in ("comment.added", "task.completed"):
        event = event_of_type(stack.redis_url, task["id"], event_type)
        assert recipients_of(stack, event.event_id) == {}


@pytest.mark.parametrize("switch", ["task_shared_with_me", "task_completed", "comment_on_my_task"])
def test_a_switch_turned_off_stops_only_its_own_kind(http, stack, switch: str) -> None:
    owner, bob, carol = (verified_account(http, stack) for _ in range(3))
    set_notify_preferences(http, bob, **{switch: False})
    task = create_task(http, owner)
    share_task(http, owner, task["id"], bob.username)
    share_task(http, owner, task["id"], carol.username)
    create_comment(http, owner, task["id"])
    complete(http, owner, task["id"])
    shared_with_bob = event_of_type(stack.redis_url, task["id"], "task.shared", 1)
    added = event_of_type(stack.redis_url, task["id"], "comment.added")
    completed = event_of_type(stack.redis_url, task["id"], "task.completed")
    got = {
        "task_shared_with_me": bob.id in recipients_of(stack, shared_with_bob.event_id),
        "comment_on_my_task": bob.id in recipients_of(stack, added.event_id),
        "task_completed": bob.id in recipients_of(stack, completed.event_id),
    }
    assert got == {name: name != switch for name in got}
    # Carol (defaults) gets every kind.
    assert carol.id in recipients_of(stack, added.event_id)
    assert carol.id in recipients_of(stack, completed.event_id)


def test_do_not_disturb_stops_every_email_and_lifting_it_resumes_them(http, stack) -> None:
    owner, bob = verified_account(http, stack), verified_account(http, stack)
    set_notify_preferences(http, bob, email_enabled=False)
    task = create_task(http, owner)
    share_task(http, owner, task["id"], bob.username)
    create_comment(http, owner, task["id"])
    complete(http, owner, task["id"])
    for event_type in ("task.shared", "comment.added", "task.completed"):
        event = event_of_type(stack.redis_url, task["id"], event_type)
        assert recipients_of(stack, event.event_id) == {}, event_type

    set_notify_preferences(http, bob, email_enabled=True)
    create_comment(http, owner, task["id"])
    again = event_of_type(stack.redis_url, task["id"], "comment.added", 2)
    assert recipients_of(stack, again.event_id) == {bob.id: "comment.added"}


@pytest.mark.parametrize("subscribed", [False, True], ids=["never-subscribed", "code-not-entered"])
def test_nothing_is_emailed_to_an_unverified_address(http, stack, subscribed: bool) -> None:
    owner, bob = verified_account(http, stack), new_account(http)
    if subscribed:
        assert subscribe_email(http, bob).status_code == 200
    task = create_task(http, owner)
    share_task(http, owner, task["id"], bob.username)
    create_comment(http, owner, task["id"])
    complete(http, owner, task["id"])
    for event_type in ("task.shared", "comment.added", "task.completed"):
        event = event_of_type(stack.redis_url, task["id"], event_type)
        assert recipients_of(stack, event.event_id) == {}, event_type
    assert [m["kind"] for m in mail_log(stack, bob.id)] == (["verification"] if subscribed else [])


def test_other_changes_email_nobody(http, stack) -> None:
    owner, editor, viewer, task = team(http, stack)
    response = http.patch(f"/tasks/{task['id']}", json={"title": "renamed"}, headers=editor.headers)
    assert response.status_code == 200, response.text
    comment = create_comment(http, editor, task["id"])
    assert (
        http.patch(
            f"/comments/{comment['id']}", json={"content": "edited"}, headers=editor.headers
        ).status_code
        == 200
    )
    assert (
        http.delete(f"/tasks/{task['id']}/share/{viewer.username}", headers=owner.headers).status_code == 204
    )
    assert http.delete(f"/tasks/{task['id']}", headers=owner.headers).status_code == 204
    events = task_events(stack.redis_url, task["id"], until=lambda events: events[-1].type == "task.deleted")
    quiet = [e for e in events if e.type not in ("task.shared", "comment.added")]
    assert {e.type for e in quiet} >= {
        "task.created",
        "task.updated",
        "comment.updated",
        "task.unshared",
        "task.deleted",
    }
    # Notify acknowledges these without a transaction (they can notify nobody), so wait for a
    # later event of the same stream that it does record: it consumes the stream in order.
    marker_task = create_task(http, owner)
    share_task(http, owner, marker_task["id"], viewer.username)
    marker = event_of_type(stack.redis_url, marker_task["id"], "task.shared")
    notify_processed(stack, [marker.event_id])
    assert notify_deliveries(stack, [e.event_id for e in quiet]) == []
    processed = notify_sql(
        stack,
        "SELECT count(*) AS n FROM processed_events WHERE event_id::text = ANY(%s)",
        ([e.event_id for e in quiet],),
    )
    assert processed == [{"n": 0}]  # skipped, not recorded
