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

from tm_common.paging import PageTokens

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


def stack_page_tokens(stack: Any) -> PageTokens:
    """Page tokens under the stack's PAGE_TOKEN_SECRET: to read the values of a real token and to
    make tokens the services accept, e.g. with values no service would put in one."""
    return PageTokens(stack.secrets["page_token"].encode())


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


# -- notifications: the API through the gateway, the notify schema as an operator reads it ---
NOTIFY_TIMEOUT = 20.0  # seconds an event or an email may take to reach the notify schema
VERIFICATION_CODE_PATTERN = r"verification code is (\d{6})"


def service_sql(stack: Any, service: str, query: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Rows of one statement in a service's schema, as its own role (what an operator can do)."""
    import psycopg
    from psycopg.rows import dict_row

    from tm_devstack.services import SERVICES

    spec = next(s for s in SERVICES if s.name == service)
    url = stack.service_database_url(spec, driver="postgresql")
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        cursor = conn.execute(query, tuple(params))
        return cursor.fetchall() if cursor.description else []


def notify_sql(stack: Any, query: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    return service_sql(stack, "notify", query, params)


def wait_until(check: Callable[[], Any], what: str, timeout: float = NOTIFY_TIMEOUT) -> Any:
    """Poll `check` until it returns something truthy; return it, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


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


def event_of_type(redis_url: str, task_id: int, event_type: str, nth: int = 1) -> Any:
    """The nth event of this type about the task (waits for it)."""

    def of_type(events: list[Any]) -> list[Any]:
        return [event for event in events if event.type == event_type]

    events = task_events(redis_url, task_id, until=lambda events: len(of_type(events)) >= nth)
    return of_type(events)[nth - 1]


# -- files: attachments through the gateway; the files schema, blob directory and events as an
# operator sees them; a local S3 (moto) and an in-process files server for what the stack does not run
FILES_EVENTS_STREAM = "events:files"
FILE_KEYS = frozenset({"id", "task_id", "original_filename", "file_size", "content_type", "uploaded_at"})
FILES_TIMEOUT = 15.0  # seconds an event, a consumer or the cleanup loop may take
MIB = 1024 * 1024
# First bytes that pass the files service's content checks, per extension.
FILE_HEADS = {
    ".txt": b"plain text\n",
    ".png": b"\x89PNG\r\n\x1a\n",
    ".jpg": b"\xff\xd8\xff\xe0",
    ".jpeg": b"\xff\xd8\xff\xdb",
    ".gif": b"GIF89a",
    ".pdf": b"%PDF-1.7\n",
    ".doc": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    ".docx": b"PK\x03\x04",
}


def file_bytes(extension: str, size: int) -> bytes:
    """`size` bytes that pass the checks of a file with this extension (random after the head;
    printable for .txt)."""
    import os

    head = FILE_HEADS[extension]
    if extension == ".txt":
        body = base64.b64encode(os.urandom(size))[: max(size - len(head), 0)]
    else:
        body = os.urandom(max(size - len(head), 0))
    return (head + body)[:size]


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def files_path(task_id: int) -> str:
    return f"/tasks/{task_id}/files"


def upload_multipart(
    http: httpx.Client,
    account: Account,
    task_id: int,
    data: bytes,
    filename: str,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    """POST /tasks/{task_id}/files with the file in multipart part `file`; unchecked."""
    return http.post(
        files_path(task_id), files={"file": (filename, data, content_type)}, headers=account.headers
    )


def upload_raw(
    http: httpx.Client,
    account: Account,
    task_id: int,
    data: bytes,
    filename: str | None,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    """POST /tasks/{task_id}/files with the bytes as the body and `?filename=`; unchecked."""
    params = {} if filename is None else {"filename": filename}
    headers = {**account.headers, "content-type": content_type}
    return http.post(files_path(task_id), params=params, content=data, headers=headers)


def uploaded_file(response: httpx.Response) -> dict[str, Any]:
    """The File of a 201 upload response (asserting its shape)."""
    assert response.status_code == 201, response.text
    file: dict[str, Any] = response.json()
    assert set(file) == FILE_KEYS, file
    return file


def list_files(http: httpx.Client, account: Account, task_id: int) -> list[dict[str, Any]]:
    """GET /tasks/{task_id}/files as `account`; asserts 200 and a bare JSON array."""
    response = http.get(files_path(task_id), headers=account.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    assert isinstance(found, list), found
    return found


def download(http: httpx.Client, account: Account, file_id: int) -> httpx.Response:
    """GET /files/{file_id} as `account`; unchecked."""
    return http.get(f"/files/{file_id}", headers=account.headers)


def files_sql(stack: Any, query: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    return service_sql(stack, "files", query, params)


def blob_key(stack: Any, file_id: int) -> str:
    """The blob key of a file's row (the row must exist)."""
    rows = files_sql(stack, "SELECT blob_key FROM files WHERE id = %s", (file_id,))
    assert rows, f"file {file_id} has no row"
    key: str = rows[0]["blob_key"]
    return key


def blob_root(stack: Any) -> Path:
    """Where the stack's files service keeps its blobs (LocalBlobStore under DATA_DIR/blobs)."""
    return Path(stack.data) / "blobs"


def blob_names(stack: Any) -> set[str]:
    """Every entry of the local blob directory, partial uploads included."""
    folder = blob_root(stack) / "files"
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def eventually(check: Callable[[], Any], what: str, timeout: float = FILES_TIMEOUT) -> Any:
    """wait_until with the files tests' timeout."""
    return wait_until(check, what, timeout)


def file_events(
    redis_url: str,
    task_id: int,
    until: Callable[[list[Any]], bool] | None = None,
    timeout: float = FILES_TIMEOUT,
) -> list[Any]:
    """The events of `events:files` about task `task_id`, oldest first (see stream_events)."""
    return stream_events(
        redis_url,
        FILES_EVENTS_STREAM,
        lambda event: event.HasField("task_id") and event.task_id == task_id,
        until,
        timeout,
    )


def content_disposition_params(header: str) -> tuple[str, dict[str, str]]:
    """(disposition type, {parameter: raw value}) of a Content-Disposition header, split as RFC
    6266 reads it (quoted strings may hold ';'); quoted values are returned unquoted."""
    import re

    token = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    pattern = re.compile(rf'\s*;\s*({token})\s*=\s*("(?:[^"\\]|\\.)*"|{token})')
    kind = re.match(token, header)
    assert kind, header
    params: dict[str, str] = {}
    position = kind.end()
    while position < len(header):
        found = pattern.match(header, position)
        assert found, f"unparsable Content-Disposition at {position}: {header!r}"
        name, value = found.group(1).lower(), found.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        assert name not in params, f"{name} twice: {header!r}"
        params[name] = value
        position = found.end()
    return kind.group(0).lower(), params


def disposition_filename(header: str) -> str:
    """The file name an RFC 6266 client saves under: filename* (RFC 8187) when present."""
    from urllib.parse import unquote

    _, params = content_disposition_params(header)
    if "filename*" in params:
        charset, _, encoded = params["filename*"].split("'", 2)
        assert charset.lower() == "utf-8", header
        return unquote(encoded, encoding="utf-8", errors="strict")
    return params["filename"]


class MotoServer:
    """A local S3 (moto's server mode) on a free port, reached over real HTTP with dummy keys."""

    CREDENTIALS = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: Any = None
        self.port = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        import os
        import subprocess
        import sys

        from tm_devstack.ports import free_port

        os.environ.update(self.CREDENTIALS)  # boto3 (also in this process's servers) reads them
        self.port = free_port()
        binary = Path(sys.executable).parent / "moto_server"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(binary), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.endpoint_url}/moto-api/", timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start; see {self.log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
                self.process.wait(10)

    def client(self) -> Any:
        """A boto3 S3 client of this server (path-style, as the files service's)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=self.endpoint_url,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        name = unique("bucket-")
        self.client().create_bucket(Bucket=name)
        return name


def files_settings(stack: Any, **overrides: Any) -> Any:
    """FilesSettings of a files server against the stack's Postgres (the files schema, shared with
    the stack's files service), Redis, auth and tasks."""
    from tm_devstack.services import SERVICES
    from tm_files.config import FilesSettings

    spec = next(s for s in SERVICES if s.name == "files")
    values: dict[str, Any] = {
        "database_url": stack.service_database_url(spec),
        "redis_url": stack.redis_url,
        "auth_address": stack.service_address("auth"),
        "tasks_address": stack.service_address("tasks"),
        "outbox_relay": False,
        "consume_streams": "",
        "consumer_group": unique("files-test-"),
        **overrides,
    }
    return FilesSettings(**values)


def files_server(stack: Any, **overrides: Any) -> Any:
    """An async context manager: a files server in this process on a free port (it yields the
    address), serving RPCs only, with the stack's settings and `overrides`.

    It shares the files schema with the stack's files service, so it runs none of the background
    loops: the stack's service relays the shared outbox and consumes task deletions, and a second
    cleanup loop with another blob store would carry out (and so lose) the stack's scheduled blob
    deletions against the wrong store."""
    import dataclasses
    from contextlib import asynccontextmanager, suppress

    from tm_common.server import start_server
    from tm_files.bootstrap import build

    @asynccontextmanager
    async def serving() -> Any:
        settings = files_settings(stack, **overrides)
        definition = dataclasses.replace(build(settings), background=[])
        running = await start_server(definition, settings, address="127.0.0.1:0")
        try:
            yield f"127.0.0.1:{running.port}"
        finally:
            await running.stop(0)
            for close in definition.on_close:
                with suppress(Exception):
                    await close()

    return serving()
