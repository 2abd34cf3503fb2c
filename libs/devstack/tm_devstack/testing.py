"""Helpers for the test suites: forged and broken tokens, gRPC channels, unique names."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.rpc import error_details_pb2
from grpc_status import rpc_status

ISSUER = "taskmanager-auth"
AUDIENCE = "taskmanager"


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def claims(user_id: int = 1, username: str = "someone", ttl: int = 300, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": str(user_id),
        "username": username,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl,
        **extra,
    }


def signing_key(jwt_keys_dir: Path) -> tuple[str, Any]:
    """(kid, private key) of the stack's current signing key, to mint tokens the system trusts."""
    from tm_auth.adapters.signing import KeyRing

    ring = KeyRing.from_directory(jwt_keys_dir, generate=False)
    return ring.current.kid, ring.current.private_key


def token(private_key: Any, kid: str, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, private_key, algorithm="EdDSA", headers={"kid": kid})


def expired_token(jwt_keys_dir: Path) -> str:
    kid, key = signing_key(jwt_keys_dir)
    return token(key, kid, claims(ttl=-120))


def wrong_key_token(jwt_keys_dir: Path) -> str:
    """Signed by a stranger's key that claims the real key's id."""
    kid, _ = signing_key(jwt_keys_dir)
    return token(ed25519.Ed25519PrivateKey.generate(), kid, claims())


def alg_none_token(jwt_keys_dir: Path) -> str:
    kid, _ = signing_key(jwt_keys_dir)

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(claims())}."


def tampered_token(valid: str) -> str:
    """A real token whose payload was changed after signing (user id 1 -> someone else)."""
    header, payload, signature = valid.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["sub"] = str(int(data["sub"]) + 1000)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


# -- JSON clients of the gateway -------------------------------------------------------------
PASSWORD = "correct horse battery"


@dataclass
class Account:
    id: int
    username: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(http: httpx.Client, username: str | None = None, email: str | None = None) -> httpx.Response:
    username = username or unique("user")
    return http.post(
        "/auth/register",
        json={"username": username, "email": email or f"{username}@example.com", "password": PASSWORD},
    )


def new_account(http: httpx.Client) -> Account:
    """Register a fresh user through the gateway and log in."""
    user = register(http).json()
    reply = http.post("/auth/login", json={"username": user["username"], "password": PASSWORD})
    return Account(user["id"], user["username"], user["email"], reply.json()["access_token"])


def assert_status_body(response: httpx.Response, http_code: int, grpc_code: int) -> dict[str, Any]:
    """Errors have one JSON shape, google.rpc.Status; returns it."""
    assert response.status_code == http_code, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == grpc_code
    assert "grpc-status" not in response.headers
    return body


# -- tasks through the gateway (JSON) --------------------------------------------------------
# The Task JSON of API.md: these members are always there; the optional ones are left out when unset.
TASK_REQUIRED = frozenset({"id", "title", "completed", "priority", "tags", "user_id", "created_at"})
TASK_OPTIONAL = frozenset({"description", "due_date", "updated_at"})
# Priorities sort by rank, not alphabetically (our documented choice).
PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2}


def create_task(http: httpx.Client, account: Account, **fields: Any) -> dict[str, Any]:
    """POST /tasks as `account` (a unique title unless given); asserts 201 and returns the task."""
    fields.setdefault("title", unique("task"))
    response = http.post("/tasks", json=fields, headers=account.headers)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def get_task(http: httpx.Client, account: Account, task_id: int) -> dict[str, Any]:
    """GET /tasks/{id} as `account`; asserts 200 and returns the task."""
    response = http.get(f"/tasks/{task_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


def list_tasks(http: httpx.Client, account: Account, query: Any = None) -> dict[str, Any]:
    """GET /tasks as `account`; asserts 200 and returns {tasks, total, page, pages, ...}.

    `query` is a dict or a list of pairs (encoded by httpx) or a raw query string sent as is."""
    if isinstance(query, str):
        response = http.get(f"/tasks?{query}", headers=account.headers)
    else:
        response = http.get("/tasks", params=query, headers=account.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def field_violations(body: dict[str, Any]) -> set[str]:
    """The fields named by the google.rpc.BadRequest details of a google.rpc.Status JSON body."""
    return {
        violation["field"]
        for detail in body["details"]
        if detail.get("@type") == "type.googleapis.com/google.rpc.BadRequest"
        for violation in detail.get("field_violations", [])
    }


def assert_bad_request(response: httpx.Response, *fields: str) -> dict[str, Any]:
    """A 400 google.rpc.Status whose BadRequest names exactly `fields`; returns the body."""
    body = assert_status_body(response, 400, 3)
    assert field_violations(body) == set(fields), body
    return body


# -- bulk update, stats and cursor paging (JSON) ---------------------------------------------
STATS_KEYS = frozenset(
    {"total", "completed", "incomplete", "by_priority", "by_tag", "overdue", "completion_rate"}
)


def bearer_metadata(account: Account) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying `account`'s token."""
    return (("authorization", f"Bearer {account.token}"),)


def bulk_update(
    http: httpx.Client, account: Account, task_ids: list[int], updates: dict[str, Any]
) -> httpx.Response:
    """PATCH /tasks/bulk as `account`; returns the response unchecked."""
    return http.patch(
        "/tasks/bulk", json={"task_ids": list(task_ids), "updates": updates}, headers=account.headers
    )


def task_stats(http: httpx.Client, account: Account) -> dict[str, Any]:
    """GET /tasks/stats as `account`; asserts 200 and returns the stats."""
    response = http.get("/tasks/stats", headers=account.headers)
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()
    return stats


def expected_stats(tasks: Iterable[dict[str, Any]], today: date | None = None) -> dict[str, Any]:
    """The stats API.md promises for these Task JSONs: overdue = due before `today` (UTC) and not
    completed; completion_rate = completed / total, 0 without tasks."""
    today = today or datetime.now(UTC).date()
    tasks = list(tasks)
    completed = sum(task["completed"] for task in tasks)
    by_priority = {"low": 0, "medium": 0, "high": 0}
    by_tag: dict[str, int] = {}
    for task in tasks:
        by_priority[task["priority"]] += 1
        for tag in set(task["tags"]):
            by_tag[tag] = by_tag.get(tag, 0) + 1
    overdue = sum(
        1
        for task in tasks
        if not task["completed"] and "due_date" in task and date.fromisoformat(task["due_date"]) < today
    )
    return {
        "total": len(tasks),
        "completed": completed,
        "incomplete": len(tasks) - completed,
        "by_priority": by_priority,
        "by_tag": by_tag,
        "overdue": overdue,
        "completion_rate": completed / len(tasks) if tasks else 0.0,
    }


def assert_stats(http: httpx.Client, account: Account, tasks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """GET /tasks/stats equals expected_stats(tasks) (the rate within float rounding); returns it."""
    stats = task_stats(http, account)
    want = expected_stats(tasks)
    assert set(stats) == STATS_KEYS, stats
    exact = {key: value for key, value in stats.items() if key != "completion_rate"}
    assert exact == {key: value for key, value in want.items() if key != "completion_rate"}, stats
    assert abs(stats["completion_rate"] - want["completion_rate"]) < 1e-9, stats
    return stats


def walk_tasks(
    http: httpx.Client,
    account: Account,
    query: dict[str, Any] | None = None,
    *,
    limit: int,
    between: Callable[[int], None] | None = None,
    max_pages: int = 300,
) -> list[dict[str, Any]]:
    """The pages of GET /tasks?<query>&limit=<limit>, following next_page_token (with the same
    query) until it is empty. `between(n)` runs after page n when another page follows."""
    pages: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {**(query or {}), "limit": limit}
        if token:
            params["page_token"] = token
        page = list_tasks(http, account, params)
        pages.append(page)
        assert isinstance(page.get("next_page_token"), str), page
        token = page["next_page_token"]
        if not token:
            return pages
        assert len(pages) < max_pages, "next_page_token never ran out"
        if between is not None:
            between(len(pages))


# -- sharing (JSON) --------------------------------------------------------------------------
# The Share JSON of API.md: every member is always there.
SHARE_KEYS = frozenset(
    {"id", "task_id", "shared_with_user_id", "shared_with_username", "permission", "shared_at"}
)


def new_user(http: httpx.Client) -> Account:
    """Register a fresh user without logging in (one password hash less than new_account): for a
    user who is only named, e.g. shared with, and never calls the API. Its token is empty."""
    response = register(http)
    assert response.status_code == 201, response.text
    user = response.json()
    return Account(user["id"], user["username"], user["email"], "")


def log_in(http: httpx.Client, user: Account) -> Account:
    """`user` with a token of its own (POST /auth/login)."""
    reply = http.post("/auth/login", json={"username": user.username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return Account(user.id, user.username, user.email, reply.json()["access_token"])


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


# -- comments (JSON) -------------------------------------------------------------------------
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


# -- native gRPC ------------------------------------------------------------------------------
def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    """The error a gRPC call raises (the test fails if it succeeds)."""
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value


def violated_fields(error: grpc.RpcError) -> set[str]:
    """Fields named by the google.rpc.BadRequest in the error's rich status."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # an RpcError is also its Call
    assert status is not None, "no google.rpc.Status details"
    fields: set[str] = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields |= {violation.field for violation in bad_request.field_violations}
    return fields


# Patches a task update refuses, with the field the 400 names (PATCH /tasks/{id} and bulk alike).
INVALID_PATCHES = [
    pytest.param({"title": None}, "title", id="null-title"),
    pytest.param({"completed": None}, "completed", id="null-completed"),
    pytest.param({"priority": None}, "priority", id="null-priority"),
    pytest.param({"title": ""}, "title", id="title-empty"),
    pytest.param({"title": "   "}, "title", id="title-blank"),
    pytest.param({"title": "t" * 201}, "title", id="title-201"),
    pytest.param({"description": "d" * 1001}, "description", id="description-1001"),
    pytest.param({"priority": "urgent"}, "priority", id="priority-unknown"),
    pytest.param({"due_date": "2026-13-01"}, "due_date", id="due-month-13"),
    pytest.param({"due_date": "tomorrow"}, "due_date", id="due-word"),
    pytest.param({"title": 5}, "title", id="title-number"),
    pytest.param({"completed": "yes"}, "completed", id="completed-string"),
    pytest.param({"tags": "a"}, "tags", id="tags-string"),
]


# -- events on Redis Streams (taskmanager.events.v1) -----------------------------------------
TASK_EVENTS_STREAM = "events:tasks"
AUTH_EVENTS_STREAM = "events:auth"
EVENT_TIMEOUT = 15.0  # seconds an event may take from the outbox to its stream


@dataclass
class StreamEvent:
    """One stream entry: its id, its `event_id` and `type` fields and the decoded payload."""

    entry_id: bytes
    event_id: str
    type: str
    envelope: Any  # taskmanager.events.v1.events_pb2.EventEnvelope


class StreamReader:
    """Every entry of one stream, decoded once: each read continues after the last entry seen
    (XRANGE from an exclusive start), so polling a stream of thousands of entries stays cheap."""

    _readers: dict[tuple[str, str], StreamReader] = {}

    def __init__(self, redis_url: str, stream: str) -> None:
        from redis import Redis

        self.stream = stream
        self._redis = Redis.from_url(redis_url, socket_timeout=5)
        self._last = b"-"
        self.entries: list[StreamEvent] = []

    @classmethod
    def of(cls, redis_url: str, stream: str) -> StreamReader:
        """The reader of this stream, shared by the whole test session."""
        key = (redis_url, stream)
        if key not in cls._readers:
            cls._readers[key] = cls(redis_url, stream)
        return cls._readers[key]

    def read(self) -> list[StreamEvent]:
        """All entries so far, oldest first (reads what arrived since the last call)."""
        from taskmanager.events.v1.events_pb2 import EventEnvelope

        while True:
            start = self._last if self._last == b"-" else b"(" + self._last
            batch: Any = self._redis.xrange(self.stream, min=start, max="+", count=1000)
            for entry_id, fields in batch:
                self.entries.append(
                    StreamEvent(
                        entry_id=entry_id,
                        event_id=fields[b"event_id"].decode(),
                        type=fields[b"type"].decode(),
                        envelope=EventEnvelope.FromString(fields[b"payload"]),
                    )
                )
                self._last = entry_id
            if len(batch) < 1000:
                return self.entries


def stream_events(
    redis_url: str,
    stream: str,
    match: Callable[[Any], bool],
    until: Callable[[list[Any]], bool] | None = None,
    timeout: float = EVENT_TIMEOUT,
) -> list[Any]:
    """The EventEnvelopes of `stream` for which `match` holds, oldest first. With `until`, polls
    (up to `timeout` seconds) until `until(those envelopes)` holds, and fails if it never does."""
    reader = StreamReader.of(redis_url, stream)
    deadline = time.monotonic() + timeout
    while True:
        events = [entry.envelope for entry in reader.read() if match(entry.envelope)]
        if until is None or until(events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{stream}: the awaited event did not arrive within {timeout} s; "
                f"matching events so far: {[event.type for event in events]}"
            )
        time.sleep(0.05)


def task_events(
    redis_url: str,
    task_id: int,
    until: Callable[[list[Any]], bool] | None = None,
    timeout: float = EVENT_TIMEOUT,
) -> list[Any]:
    """The events of `events:tasks` about task `task_id`, oldest first (see stream_events)."""
    return stream_events(
        redis_url,
        TASK_EVENTS_STREAM,
        lambda event: event.HasField("task_id") and event.task_id == task_id,
        until,
        timeout,
    )


def user_events(
    redis_url: str,
    user_id: int,
    until: Callable[[list[Any]], bool] | None = None,
    timeout: float = EVENT_TIMEOUT,
) -> list[Any]:
    """The user.registered events of `events:auth` for user `user_id`, oldest first."""
    return stream_events(
        redis_url,
        AUTH_EVENTS_STREAM,
        lambda event: event.type == "user.registered" and event.user_registered.user_id == user_id,
        until,
        timeout,
    )


def events_before_marker(http: httpx.Client, redis_url: str, account: Account, task_id: int) -> list[Any]:
    """Every event of task `task_id` so far, settled without sleeping: adds a unique tag to the task
    as `account` (who must be able to edit it), waits for that task.tags_added (a task's events are
    published in order, so every earlier one is then in the stream), checks that it is the task's
    last event and the only one of its kind, and returns the events before it."""
    marker = unique("marker")
    response = http.post(f"/tasks/{task_id}/tags", json=[marker], headers=account.headers)
    assert response.status_code == 200, response.text

    def is_marker(event: Any) -> bool:
        return event.type == "task.tags_added" and list(event.tags_added.added) == [marker]

    events = task_events(redis_url, task_id, until=lambda events: any(map(is_marker, events)))
    assert [is_marker(event) for event in events].count(True) == 1, events
    assert is_marker(events[-1]), [event.type for event in events]
    return events[:-1]


def event_types(events: Iterable[Any]) -> list[str]:
    return [event.type for event in events]
