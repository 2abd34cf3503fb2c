"""Page tokens are authenticated: an HMAC tag under PAGE_TOKEN_SECRET over the token and its scope
(the route and the caller). A hand-edited token, or one made for another user or another route,
is a 400 naming page_token before anything in it is read; a token made with the key but holding
a value its column cannot hold is a 400 too. Real tokens keep paging on every list route.

Every route that pages with tokens is here: GET /tasks, /tasks/shared-with-me,
/tasks/{id}/comments, /tasks/{id}/files, /activity and /activity/tasks/{id}. Tokens come from
native gRPC (through the gateway) where the JSON response is a bare array, and go back as
?page_token= through the gateway's JSON side."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from support.accounts import Account, bearer_metadata, new_account
from support.comments import comments_path, create_comment
from support.errors import assert_bad_request
from support.files import files_path, upload_raw, uploaded_file
from support.polling import wait_until
from support.sharing import share_task
from support.tasks import create_task, stack_page_tokens
from taskmanager.activity.v1 import activity_pb2, activity_pb2_grpc
from taskmanager.files.v1 import files_pb2, files_pb2_grpc
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

SETTLE_SECONDS = 20.0  # activity is fed by events: wait this long for entries to arrive


@dataclass(frozen=True)
class Route:
    name: str
    path: str  # the JSON route, which takes ?page_token=
    size: str  # its page size parameter
    first_token: Callable[[Account], str]  # the next_page_token of the caller's first page of 1


@dataclass(frozen=True)
class Scene:
    owner: Account
    friend: Account  # the owner's task is shared with them (edit), and they share two with the owner
    task_id: int
    routes: dict[str, Route]


def page_of(http: httpx.Client, route: Route, who: Account, token: str) -> httpx.Response:
    return http.get(route.path, params={route.size: 1, "page_token": token}, headers=who.headers)


def settled(read: Callable[[], str], what: str) -> str:
    """read() until it gives a token (activity entries arrive through the event stream)."""
    return wait_until(read, f"a page token for {what}", SETTLE_SECONDS, every=0.2)


@pytest.fixture(scope="module")
def scene(http: httpx.Client, gateway_channel: grpc.Channel) -> Scene:
    owner, friend = new_account(http), new_account(http)
    task_id = create_task(http, owner)["id"]
    share_task(http, owner, task_id, friend.username, "edit")
    for _ in range(2):
        share_task(http, friend, create_task(http, friend)["id"], owner.username, "view")
        share_task(http, owner, create_task(http, owner)["id"], friend.username, "view")
    for n in range(3):
        create_comment(http, owner, task_id)
        uploaded_file(upload_raw(http, owner, task_id, b"x", f"{n}.txt", "text/plain"))
    sharing = tasks_pb2_grpc.SharingServiceStub(gateway_channel)
    comments = tasks_pb2_grpc.CommentsServiceStub(gateway_channel)
    files = files_pb2_grpc.FilesServiceStub(gateway_channel)
    activity = activity_pb2_grpc.ActivityServiceStub(gateway_channel)

    def tasks_token(who: Account) -> str:
        response = http.get("/tasks", params={"limit": 1}, headers=who.headers)
        assert response.status_code == 200, response.text
        token: str = response.json()["next_page_token"]
        return token

    def shared_token(who: Account) -> str:
        request = tasks_pb2.ListSharedWithMeRequest(page_size=1)
        return sharing.ListSharedWithMe(request, metadata=bearer_metadata(who)).next_page_token

    def comments_token(who: Account) -> str:
        request = tasks_pb2.ListCommentsRequest(task_id=task_id, page_size=1)
        return comments.ListComments(request, metadata=bearer_metadata(who)).next_page_token

    def files_token(who: Account) -> str:
        request = files_pb2.ListFilesRequest(task_id=task_id, page_size=1)
        return files.ListFiles(request, metadata=bearer_metadata(who)).next_page_token

    def history_token(who: Account) -> str:
        request = activity_pb2.ListActivityRequest(limit=1)
        return settled(
            lambda: activity.ListActivity(request, metadata=bearer_metadata(who)).next_page_token,
            f"the history of {who.username}",
        )

    def timeline_token(who: Account) -> str:
        request = activity_pb2.GetTaskTimelineRequest(task_id=task_id, page_size=1)

        def read() -> str:
            try:
                return activity.GetTaskTimeline(request, metadata=bearer_metadata(who)).next_page_token
            except grpc.RpcError as error:  # NOT_FOUND until the share has reached activity
                assert error.code() == grpc.StatusCode.NOT_FOUND, error
                return ""

        return settled(read, f"the timeline of task {task_id} for {who.username}")

    routes = [
        Route("tasks", "/tasks", "limit", tasks_token),
        Route("shared-with-me", "/tasks/shared-with-me", "page_size", shared_token),
        Route("comments", comments_path(task_id), "page_size", comments_token),
        Route("files", files_path(task_id), "page_size", files_token),
        Route("history", "/activity", "limit", history_token),
        Route("timeline", f"/activity/tasks/{task_id}", "page_size", timeline_token),
    ]
    return Scene(owner, friend, task_id, {route.name: route for route in routes})


ROUTES = ["tasks", "shared-with-me", "comments", "files", "history", "timeline"]


def assert_refused(response: httpx.Response, token: str) -> None:
    """A 400 naming page_token, whose body does not echo the token."""
    body = assert_bad_request(response, "page_token")
    assert token not in json.dumps(body), body


@pytest.mark.parametrize("name", ROUTES)
def test_each_callers_own_token_pages_on(http, scene, name) -> None:
    route = scene.routes[name]
    for who in (scene.owner, scene.friend):
        token = route.first_token(who)
        assert token, (name, who.username)
        response = page_of(http, route, who, token)
        assert response.status_code == 200, (name, response.text)


@pytest.mark.parametrize("name", ROUTES)
def test_another_users_token_is_400(http, scene, name) -> None:
    route = scene.routes[name]
    token = route.first_token(scene.owner)
    assert_refused(page_of(http, route, scene.friend, token), token)


@pytest.mark.parametrize("name", ROUTES)
def test_a_token_of_another_route_is_400(http, scene, name) -> None:
    """Each route's token, sent to the next route by the same caller (comments and files take the
    same kind of token: the last id of the page)."""
    route = scene.routes[name]
    other = scene.routes[ROUTES[(ROUTES.index(name) + 1) % len(ROUTES)]]
    token = route.first_token(scene.owner)
    assert_refused(page_of(http, other, scene.owner, token), token)


def test_a_token_for_another_task_is_400(http, scene) -> None:
    other_task = create_task(http, scene.owner)["id"]
    create_comment(http, scene.owner, other_task)
    token = scene.routes["comments"].first_token(scene.owner)
    response = http.get(
        comments_path(other_task), params={"page_size": 1, "page_token": token}, headers=scene.owner.headers
    )
    assert_refused(response, token)


def hand_edited(token: str, index: int, value: Any) -> str:
    """The token with one value of its JSON list replaced, as a user would edit it by hand; any
    bytes after the JSON (a tag) are kept as they were."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("latin-1")
    values, end = json.JSONDecoder().raw_decode(raw)
    values[index] = value
    edited = json.dumps(values).encode() + raw[end:].encode("latin-1")
    return base64.urlsafe_b64encode(edited).decode().rstrip("=")


@pytest.mark.parametrize("last_title", ["a\u0000b", "\ud800"], ids=["nul", "lone-surrogate"])
def test_a_hand_edited_title_token_is_400_not_500(http, account, last_title) -> None:
    """Issue 11, defect 3: sort_by=title with a NUL or a lone surrogate as the last value was a 500."""
    for title in ("apple", "banana", "cherry"):
        create_task(http, account, title=title)
    query = {"limit": 1, "sort_by": "title"}
    token = http.get("/tasks", params=query, headers=account.headers).json()["next_page_token"]
    forged = hand_edited(token, 3, last_title)
    assert_refused(
        http.get("/tasks", params={**query, "page_token": forged}, headers=account.headers), forged
    )


@pytest.mark.parametrize("last_title", ["a\u0000b", "x" * 201, 7], ids=["nul", "too-long", "number"])
def test_a_token_made_with_the_key_but_holding_a_bad_title_is_400(http, stack, account, last_title) -> None:
    """Defence in depth: even with the key, a sort value its column cannot hold is refused. (A lone
    surrogate cannot even be put in a token as UTF-8: services/tasks/tests/unit/test_cursor.py.)"""
    for title in ("apple", "banana"):
        create_task(http, account, title=title)
    query = {"limit": 1, "sort_by": "title"}
    token = http.get("/tasks", params=query, headers=account.headers).json()["next_page_token"]
    tokens = stack_page_tokens(stack)
    values = tokens.read(("ListTasks", account.id), token, 5)
    assert values[3] == "apple"
    values[3] = last_title
    made = tokens.make(("ListTasks", account.id), values)
    assert_refused(http.get("/tasks", params={**query, "page_token": made}, headers=account.headers), made)
