"""Sharing through the gateway (JSON)."""

from __future__ import annotations

from typing import Any

import httpx

from support.accounts import Account

# The Share JSON of API.md: every member is always there.
SHARE_KEYS = frozenset(
    {"id", "task_id", "shared_with_user_id", "shared_with_username", "permission", "shared_at"}
)


def share(
    http: httpx.Client, owner: Account, task_id: int, username: str, permission: str | None = None
) -> httpx.Response:
    """POST /tasks/{task_id}/share as `owner`; the permission is left out when None. Unchecked."""
    body: dict[str, Any] = {"shared_with_username": username}
    if permission is not None:
        body["permission"] = permission
    return http.post(f"/tasks/{task_id}/share", json=body, headers=owner.headers)


def share_task(
    http: httpx.Client, owner: Account, task_id: int, username: str, permission: str | None = None
) -> dict[str, Any]:
    """share(...) asserting 201; returns the share."""
    response = share(http, owner, task_id, username, permission)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def shared_with_me(http: httpx.Client, account: Account) -> list[dict[str, Any]]:
    """GET /tasks/shared-with-me as `account`; asserts 200 and a bare JSON array; returns it."""
    response = http.get("/tasks/shared-with-me", headers=account.headers)
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()
    assert isinstance(tasks, list), tasks
    return tasks
