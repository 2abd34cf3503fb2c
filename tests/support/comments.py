"""Comments through the gateway (JSON)."""

from __future__ import annotations

from typing import Any

import httpx

from support.accounts import Account, unique

# The Comment JSON of API.md: these members are always there; updated_at only once edited.
COMMENT_REQUIRED = frozenset({"id", "task_id", "user_id", "content", "created_at"})
COMMENT_KEYS = COMMENT_REQUIRED | {"updated_at"}


def comments_path(task_id: int, comment_id: int | None = None) -> str:
    """/tasks/{task_id}/comments, or /tasks/{task_id}/comments/{comment_id}."""
    path = f"/tasks/{task_id}/comments"
    return path if comment_id is None else f"{path}/{comment_id}"


def comment_alias(comment_id: int) -> str:
    """The original's alias of a comment's PATCH and DELETE: /comments/{comment_id}."""
    return f"/comments/{comment_id}"


def add_comment(http: httpx.Client, account: Account, task_id: int, content: Any) -> httpx.Response:
    """POST /tasks/{task_id}/comments {content} as `account`; returns the response unchecked."""
    return http.post(comments_path(task_id), json={"content": content}, headers=account.headers)


def create_comment(
    http: httpx.Client, account: Account, task_id: int, content: str | None = None
) -> dict[str, Any]:
    """add_comment(...) asserting 201 (a unique content unless given); returns the comment."""
    response = add_comment(http, account, task_id, content if content is not None else unique("comment "))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def list_comments(http: httpx.Client, account: Account, task_id: int) -> list[dict[str, Any]]:
    """GET /tasks/{task_id}/comments as `account`; asserts 200 and a bare JSON array; returns it."""
    response = http.get(comments_path(task_id), headers=account.headers)
    assert response.status_code == 200, response.text
    comments: list[dict[str, Any]] = response.json()
    assert isinstance(comments, list), comments
    return comments


def edit_comment(
    http: httpx.Client,
    account: Account,
    comment_id: int,
    content: Any,
    task_id: int | None = None,
) -> httpx.Response:
    """PATCH the comment {content} as `account`, at /tasks/{task_id}/comments/{comment_id}, or at
    the alias /comments/{comment_id} when task_id is None. Unchecked."""
    path = comment_alias(comment_id) if task_id is None else comments_path(task_id, comment_id)
    return http.patch(path, json={"content": content}, headers=account.headers)


def remove_comment(
    http: httpx.Client, account: Account, comment_id: int, task_id: int | None = None
) -> httpx.Response:
    """DELETE the comment as `account` (the alias when task_id is None). Unchecked."""
    path = comment_alias(comment_id) if task_id is None else comments_path(task_id, comment_id)
    return http.delete(path, headers=account.headers)
