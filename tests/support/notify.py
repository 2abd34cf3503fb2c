"""Notifications: the API through the gateway, the notify schema as an operator reads it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from support.accounts import Account, new_account
from support.polling import wait_until
from support.sql import service_sql

NOTIFY_TIMEOUT = 20.0  # seconds an event or an email may take to reach the notify schema
VERIFICATION_CODE_PATTERN = r"verification code is (\d{6})"


def notify_sql(stack: Any, query: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    return service_sql(stack, "notify", query, params)


def mail_log(stack: Any, user_id: int, after_id: int = 0) -> list[dict[str, Any]]:
    """The local delivery log's emails to a user, oldest first (only those after `after_id`)."""
    return notify_sql(
        stack, "SELECT * FROM mail_log WHERE user_id = %s AND id > %s ORDER BY id", (user_id, after_id)
    )


def subscribe_email(http: httpx.Client, account: Account) -> httpx.Response:
    """POST /notifications/subscribe as `account`; unchecked."""
    return http.post("/notifications/subscribe", json={}, headers=account.headers)


def verify_email(http: httpx.Client, account: Account, code: Any) -> httpx.Response:
    """POST /notifications/verify {code} as `account`; unchecked."""
    return http.post("/notifications/verify", json={"code": code}, headers=account.headers)


def subscribe_and_read_code(http: httpx.Client, stack: Any, account: Account) -> str:
    """Subscribe (asserting 200) and return the code of the verification email that follows, read
    from the local delivery log."""
    before = max((row["id"] for row in mail_log(stack, account.id)), default=0)
    response = subscribe_email(http, account)
    assert response.status_code == 200, response.text
    mails = wait_until(
        lambda: [m for m in mail_log(stack, account.id, before) if m["kind"] == "verification"],
        f"the verification email to user {account.id}",
    )
    import re

    found = re.search(VERIFICATION_CODE_PATTERN, mails[-1]["body"])
    assert found, mails[-1]
    return found.group(1)


def notify_preferences(http: httpx.Client, account: Account) -> dict[str, Any]:
    response = http.get("/notifications/preferences", headers=account.headers)
    assert response.status_code == 200, response.text
    prefs: dict[str, Any] = response.json()
    return prefs


def set_notify_preferences(http: httpx.Client, account: Account, **switches: bool) -> dict[str, Any]:
    response = http.patch("/notifications/preferences", json=switches, headers=account.headers)
    assert response.status_code == 200, response.text
    prefs: dict[str, Any] = response.json()
    return prefs


def verified_account(http: httpx.Client, stack: Any) -> Account:
    """A fresh account whose email is verified (subscribe, code from the delivery log, verify)."""
    account = new_account(http)
    code = subscribe_and_read_code(http, stack, account)
    response = verify_email(http, account, code)
    assert response.status_code == 200, response.text
    return account


def notify_processed(stack: Any, event_ids: Iterable[str], timeout: float = NOTIFY_TIMEOUT) -> None:
    """Wait until the notify service has consumed every one of these events (its processed ids):
    from then on their deliveries are all queued."""
    wanted = set(event_ids)

    def done() -> bool:
        rows = notify_sql(
            stack,
            "SELECT event_id::text AS id FROM processed_events WHERE event_id::text = ANY(%s)",
            (list(wanted),),
        )
        return {row["id"] for row in rows} == wanted

    wait_until(done, f"notify consuming {len(wanted)} events", timeout)


def notify_deliveries(stack: Any, event_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The delivery rows of these events, by id."""
    return notify_sql(
        stack, "SELECT * FROM deliveries WHERE event_id::text = ANY(%s) ORDER BY id", (list(event_ids),)
    )


def recipients_of(stack: Any, event_id: str) -> dict[int, str]:
    """{user_id: kind} of an event's deliveries, once notify has consumed it."""
    notify_processed(stack, [event_id])
    return {row["user_id"]: row["kind"] for row in notify_deliveries(stack, [event_id])}
