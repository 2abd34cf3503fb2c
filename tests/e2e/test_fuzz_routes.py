"""A fuzz run of every route the gateway transcodes, and of native gRPC through it.

The routes come from the descriptor set (`make protos`): every method of gateway.TRANSCODED_SERVICES
with its google.api.http rules, so a new route is fuzzed without a line here. Each request has
generated path parameters (the fuzzing user's own ids, other users', edge numbers, non-numbers,
percent-escapes that are not UTF-8, very long strings), query parameters (the request message's
scalar fields not bound to the path or body) and a body built from the message's fields with right
and wrong JSON types, or raw and multipart bytes for uploads; a few go without a token or with a
bad one. The property: no answer is a 5xx or a 429 without Retry-After, every error is the JSON
google.rpc.Status shape, and nothing shows Python internals. A failure prints a curl command that
repeats the request.

FUZZ_EXAMPLES (default 70) is the number of examples per route, FUZZ_GRPC_EXAMPLES (default 300)
of native calls; FUZZ_REPORT=<file> appends every failure there as a JSON line. The run is
derandomized, so CI repeats it exactly: `FUZZ_EXAMPLES=500 pytest tests/e2e/test_fuzz_routes.py`
is a long local run.
"""

from __future__ import annotations

import base64
import builtins
import json
import os
import re
import shlex
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.accounts import PASSWORD, Account, bearer_metadata, new_account, unique
from support.files import FILE_HEADS
from support.tokens import alg_none_token, expired_token, tampered_token, wrong_key_token
from tm_devstack.gateway import TRANSCODED_SERVICES

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "build" / "descriptors" / "taskmanager.pb"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 70)
GRPC_EXAMPLES = int(os.environ.get("FUZZ_GRPC_EXAMPLES") or 300)
REPORT = os.environ.get("FUZZ_REPORT") or None
SHOWN_FAILURES = 12  # distinct failures printed per test

# -- the routes, from the contracts ------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    verb: str
    template: str
    body: str  # "" (none), "*" (the whole message) or the name of the field the body fills
    request: Descriptor

    @property
    def path_fields(self) -> list[str]:
        return re.findall(r"\{([^}=]+)(?:=[^}]*)?\}", self.template)

    @property
    def body_field(self) -> FieldDescriptor | None:
        return self.request.fields_by_name[self.body] if self.body not in ("", "*") else None

    @property
    def query_fields(self) -> list[FieldDescriptor]:
        """The scalar fields neither the path nor the body binds: they come in the query string."""
        if self.body == "*":
            return []
        return [
            f
            for f in self.request.fields
            if f.name not in self.path_fields and f.name != self.body and f.type != f.TYPE_MESSAGE
        ]

    def __str__(self) -> str:
        return f"{self.verb} {self.template}"


@dataclass(frozen=True)
class GrpcMethod:
    path: str  # /package.Service/Method
    request: Descriptor
    client_streaming: bool
    server_streaming: bool


def _contracts() -> tuple[list[Route], list[GrpcMethod]]:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    for file in files:  # protoc writes each file after its imports
        pool.Add(file)
    routes: list[Route] = []
    methods: list[GrpcMethod] = []
    for file in files:
        for service in file.service:
            name = f"{file.package}.{service.name}"
            if name not in TRANSCODED_SERVICES:
                continue
            for method in service.method:
                request = pool.FindMessageTypeByName(method.input_type.lstrip("."))
                methods.append(
                    GrpcMethod(
                        f"/{name}/{method.name}", request, method.client_streaming, method.server_streaming
                    )
                )
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in [rule, *rule.additional_bindings]:
                    verb = binding.WhichOneof("pattern")
                    if verb in ("get", "put", "post", "delete", "patch"):
                        template = getattr(binding, verb)
                        routes.append(Route(name, method.name, verb.upper(), template, binding.body, request))
    return routes, methods


ROUTES, GRPC_METHODS = _contracts()

# -- the fuzzing user's world: ids and names worth aiming at -----------------------------------


@dataclass
class World:
    """Two users with a task, comments, a file and shares each (the other's task is shared with
    the fuzzing user), and real page tokens. Deletions are repaired between examples."""

    http: httpx.Client
    channel: grpc.Channel
    me: Account
    other: Account
    ids: dict[str, list[int]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    logged_in_at: float = field(default_factory=time.monotonic)

    TAG = "home"

    @classmethod
    def build(cls, http: httpx.Client, channel: grpc.Channel) -> World:
        world = cls(http, channel, new_account(http), new_account(http))
        world.repair()
        return world

    @property
    def strings(self) -> list[str]:
        return [self.TAG, self.me.username, self.other.username, self.me.email, PASSWORD, *self.tokens]

    def ids_of(self, kind: str) -> list[int]:
        return [*self.ids.get(f"mine{kind}", []), *self.ids.get(f"theirs{kind}", [])]

    # Strategies draw an index and look the value up at draw time: the world changes between
    # examples (repairs), and hypothesis wants the same draws for the same choices.
    @staticmethod
    def pick(values: Callable[[], list[Any]], default: Any) -> Strategy[Any]:
        return st.integers(0, 15).map(lambda i: (values() or [default])[i % max(len(values()), 1)])

    def an_id(self, kind: str) -> Strategy[int]:
        return self.pick(lambda: self.ids_of(kind), 1)

    def any_id(self) -> Strategy[int]:
        return self.pick(lambda: self.ids_of("") + self.ids_of("_comment") + self.ids_of("_file"), 1)

    def a_string(self) -> Strategy[str]:
        return self.pick(lambda: self.strings, "")

    def a_token(self) -> Strategy[str]:
        return self.pick(lambda: self.tokens, "")

    def a_username(self) -> Strategy[str]:
        return self.pick(lambda: [self.me.username, self.other.username], "")

    def repair(self) -> None:
        """Recreate what the examples deleted (and log in again before the tokens expire)."""
        self.refresh()
        self._ensure_task(self.me, self.other, "mine")
        self._ensure_task(self.other, self.me, "theirs")
        self._call(self.me, "POST", "/tasks", json={"title": unique("fuzz")})  # a second page
        tokens = [
            self._call(self.me, "GET", "/tasks", params={"limit": 1}).json().get("next_page_token", ""),
            self._call(self.me, "GET", "/tasks", params={"limit": 1, "sort_by": "due_date"})
            .json()
            .get("next_page_token", ""),
            self._comments_page_token(),
        ]
        self.tokens = [t for t in tokens if t]

    def refresh(self) -> None:
        """Tokens live 15 minutes; a user whose logins the fuzzing locked is replaced by a new one."""
        if time.monotonic() - self.logged_in_at < 600:
            return
        self.me, self.other = self._log_in(self.me), self._log_in(self.other)
        self.logged_in_at = time.monotonic()
        self.repair()

    def _log_in(self, user: Account) -> Account:
        reply = self.http.post("/auth/login", json={"username": user.username, "password": PASSWORD})
        if reply.status_code != 200:
            self.ids = {}
            return new_account(self.http)
        return Account(user.id, user.username, user.email, reply.json()["access_token"])

    def _call(self, account: Account, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**account.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def _ensure_task(self, owner: Account, friend: Account, key: str) -> None:
        """owner's task `key` with a tag, two comments, a file and a share with `friend` (edit)."""
        current = self.ids.get(key, [])
        if current and self._call(owner, "GET", f"/tasks/{current[0]}").status_code == 200:
            task_id = current[0]
        else:
            reply = self._call(owner, "POST", "/tasks", json={"title": unique("fuzz"), "tags": [self.TAG]})
            assert reply.status_code == 201, reply.text
            task_id = reply.json()["id"]
        self.ids[key] = [task_id]
        self._call(owner, "POST", f"/tasks/{task_id}/tags", json=[self.TAG])
        self._call(owner, "POST", f"/tasks/{task_id}/share", json={"shared_with_username": friend.username})
        self._call(owner, "PUT", f"/tasks/{task_id}/share/{friend.username}", json={"permission": "edit"})
        comments = self._call(owner, "GET", f"/tasks/{task_id}/comments").json()
        while len(comments) < 2:
            reply = self._call(owner, "POST", f"/tasks/{task_id}/comments", json={"content": "hello"})
            assert reply.status_code == 201, reply.text
            comments.append(reply.json())
        self.ids[f"{key}_comment"] = [c["id"] for c in comments][-4:]
        files = self._call(owner, "GET", f"/tasks/{task_id}/files").json()
        if not files:
            reply = self._call(
                owner,
                "POST",
                f"/tasks/{task_id}/files",
                params={"filename": "a.txt"},
                content=sample_file(".txt", 64),
                headers={"content-type": "text/plain"},
            )
            assert reply.status_code == 201, reply.text
            files = [reply.json()]
        self.ids[f"{key}_file"] = [f["id"] for f in files][-4:]

    def _comments_page_token(self) -> str:
        """JSON lists of comments are bare arrays: the token is only on gRPC."""
        from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc

        request = tasks_pb2.ListCommentsRequest(task_id=self.ids["mine"][0], page_size=1)
        stub = tasks_pb2_grpc.CommentsServiceStub(self.channel)
        token: str = stub.ListComments(request, metadata=bearer_metadata(self.me), timeout=10).next_page_token
        return token


# -- values ----------------------------------------------------------------------------------

SPECIAL_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff", "a\ud800b", "\u2028", "\ufeff", "\U0001f600", "é\u0301",
    "null", "true", "0", "-1", "1e309", "NaN", "../../etc/passwd", "..", ".", "<script>", "' OR 1=1 --",
    "%s%n", "${x}", "\\", '"', "a,b", " a ", "\n", "\r\n", "\t", "*", "%", "+", "?", "#", "/",
]  # fmt: skip
DOMAIN_STRINGS = [
    "low", "medium", "high", "view", "edit", "owner", "asc", "desc", "id", "title", "priority",
    "completed", "created_at", "due_date", "task", "comment", "file", "created", "updated", "deleted",
    "shared", "unshared", "uploaded", "2026-12-01", "2026-12-01T10:00:00Z", "9999-12-31", "0001-01-01",
    "1970-01-01T00:00:00Z", "2026-02-30", "2026-12-01T25:00:00Z", "a.txt", "x.png", "a.exe",
    "123456", "a@example.com",
]  # fmt: skip
DATES = ("2026-12-01", "2026-01-31", "2025-06-15", "2027-03-01")
# Plausible values by field name, so that tame requests get past validation into deeper code.
HINTS: dict[str, Sequence[str]] = {
    "priority": ["low", "medium", "high"],
    "permission": ["view", "edit"],
    "sort_by": ["id", "title", "priority", "completed", "created_at", "due_date"],
    "sort_order": ["asc", "desc"],
    "resource_type": ["task", "comment", "file"],
    "action": ["created", "updated", "deleted", "shared", "unshared", "uploaded"],
    "filename": ["a.txt", "b.png", "c.pdf"],
    "content_type": ["text/plain", "image/png"],
    "code": ["123456", "000000"],
    "password": [PASSWORD, "another password"],
    **dict.fromkeys(("due_date", "created_after", "created_before", "due_after", "due_before"), DATES),
    **dict.fromkeys(("start_date", "end_date"), (*DATES, "2026-12-01T10:00:00Z")),
}
INT_EDGES = [0, 1, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32, 2**53 + 1, 2**63, -(2**63) - 1]
LONG_SIZES = [101, 201, 1001, 4097, 8200, 70_000]
RAW_ESCAPES = ["%ff", "%ed%a0%80", "%c3%28", "%00", "%", "%zz", "%f", "%2F", "%5C", "%25", "%2e%2e", "+"]
TIMESTAMPS = ["2026-12-01T10:00:00Z", "2026-12-01T10:00:00.123456789+01:00", "1970-01-01T00:00:00Z",
              "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z", "2026-13-01T00:00:00Z",
              "yesterday", ""]  # fmt: skip
WORD = "abcdefghijklmnopqrstuvwxyz0123456789_"
Strategy = st.SearchStrategy


def weighted(*options: tuple[int, Strategy[Any]]) -> Strategy[Any]:
    """one_of with weights (hypothesis picks a branch uniformly, and merges repeated ones)."""
    total = sum(weight for weight, _ in options)

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        n = draw(st.integers(0, total - 1))
        for weight, strategy in options:
            if n < weight:
                return draw(strategy)
            n -= weight
        raise AssertionError("unreachable")

    return pick()


def sample_file(extension: str, size: int) -> bytes:
    """Bytes the files service takes for a file of this extension, the same in every run."""
    return (FILE_HEADS[extension] + b"x" * size)[:size]


def mangle(text: str, n: int) -> str:
    """A near miss of a real value (a page token, a name): cut, grown, or one character changed."""
    if not text:
        return "A"
    where = n % len(text)
    return [text[:where], text + "A", text[:where] + chr(ord(text[where]) ^ 1) + text[where + 1 :]][n % 3]


def id_kind(name: str, template: str = "") -> str:
    """Which of the world's ids a field or path parameter names: tasks, comments or files."""
    previous = template.split("{" + name)[0].rstrip("/").rsplit("/", 1)[-1] if template else ""
    if "comment" in name or previous == "comments":
        return "_comment"
    return "_file" if "file" in name or previous == "files" else ""


@dataclass(frozen=True)
class Values:
    """The strategies of one request's values. Tame ones are plausible (right JSON types, the
    world's ids and names, hinted values), so that requests also reach the services' deeper code;
    wild ones are anything: wrong types, edge numbers, NUL, lone surrogates, huge strings."""

    world: World
    wild: bool

    def strings(self, name: str = "") -> Strategy[str]:
        world = self.world.a_string()
        hinted = self.hint(name)
        tame = (
            hinted
            if hinted is not None
            else weighted((1, world), (3, st.text(alphabet=WORD, min_size=1, max_size=12)))
        )
        if not self.wild:
            return tame
        return weighted(
            (4, tame),
            (1, st.sampled_from(DOMAIN_STRINGS)),
            (2, st.text(max_size=20)),
            (2, st.sampled_from(SPECIAL_STRINGS)),
            (1, st.builds(mangle, world, st.integers(0, 40))),
            (
                1,
                st.builds(
                    lambda c, n: c * n, st.sampled_from(["x", "é", "\x00"]), st.sampled_from(LONG_SIZES)
                ),
            ),
        )

    def hint(self, name: str) -> Strategy[str] | None:
        """Plausible strings for a field of this name (None: no idea)."""
        word = st.text(alphabet=WORD, min_size=3, max_size=12)
        if name in HINTS:
            return st.sampled_from(HINTS[name])
        if "username" in name:
            return weighted((3, self.world.a_username()), (1, word))
        if name == "email":
            return word.map(lambda w: f"{w}@example.com")
        if name == "page_token":
            return self.world.a_token()
        return None

    def integers(self, kind: str = "") -> Strategy[int]:
        tame = weighted((3, self.world.an_id(kind)), (1, st.integers(1, 50)))
        if not self.wild:
            return tame
        return weighted(
            (3, tame),
            (1, self.world.any_id()),
            (1, st.integers(-(2**31), 2**31 - 1)),
            (1, st.sampled_from(INT_EDGES)),
        )

    def any_json(self, depth: int = 0) -> Strategy[Any]:
        leaves = st.one_of(
            st.none(),
            st.booleans(),
            st.sampled_from(INT_EDGES),
            st.floats(allow_nan=False, allow_infinity=False),
            self.strings(),
        )
        if depth > 2:
            return leaves
        inner = self.any_json(depth + 1)
        return st.one_of(
            leaves, st.lists(inner, max_size=4), st.dictionaries(self.strings(), inner, max_size=4)
        )

    def scalar(self, f: FieldDescriptor, depth: int) -> Strategy[Any]:
        """A value of the field's own JSON type (proto3 JSON mapping), for one element."""
        if f.type == f.TYPE_BOOL:
            return st.booleans()
        if f.type in (f.TYPE_DOUBLE, f.TYPE_FLOAT):
            odd = st.sampled_from(["NaN", "-Infinity", "1e5"]) if self.wild else st.nothing()
            return st.floats(allow_nan=False, allow_infinity=False) | odd
        if f.type == f.TYPE_STRING:
            return self.strings(f.name)
        if f.type == f.TYPE_BYTES:
            return st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode())
        if f.type == f.TYPE_ENUM:
            names = st.sampled_from([v.name for v in f.enum_type.values])
            return names | st.integers(-5, 5) | self.strings() if self.wild else names
        if f.type == f.TYPE_MESSAGE:
            return self.message(f.message_type, depth + 1, f.name)
        numbers = self.integers(id_kind(f.name))
        return numbers | numbers.map(str) | st.sampled_from(["1.0", "1.5", "1e3"]) if self.wild else numbers

    def message(self, message: Descriptor, depth: int, name: str = "") -> Strategy[Any]:
        kinds = {
            "google.protobuf.Value": self.any_json(depth) if self.wild else self.hinted(name),
            "google.protobuf.Struct": st.dictionaries(self.strings(), self.any_json(depth + 1), max_size=4),
            "google.protobuf.ListValue": st.lists(self.any_json(depth + 1), max_size=4),
            "google.protobuf.Timestamp": st.sampled_from(TIMESTAMPS),
            "google.protobuf.Duration": st.sampled_from(["1s", "-1.5s", "1", "315576000001s"]),
            "google.protobuf.FieldMask": st.sampled_from(["title", "a.b,c", "", "tItle"]),
            "google.protobuf.Empty": st.just({}),
        }
        if message.full_name in kinds:
            return kinds[message.full_name]
        if message.full_name.startswith("google.protobuf.") and message.full_name.endswith("Value"):
            return self.scalar(message.fields_by_name["value"], depth)
        return self.json_object(message, depth) if depth <= 3 else st.just({})

    def hinted(self, name: str) -> Strategy[Any]:
        """A plausible google.protobuf.Value for a field of this name (a TaskPatch member)."""
        if name == "completed":
            return st.booleans()
        if name == "tags":
            return st.lists(self.strings(), max_size=3)
        return self.strings(name)

    def field(self, f: FieldDescriptor, depth: int) -> Strategy[Any]:
        """A value of the field's JSON type (a list or an object for repeated and map fields); wild
        ones are now and then of any other type, null, or a very long list."""
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key, value = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
            right = st.dictionaries(self.scalar(key, depth).map(str), self.scalar(value, depth), max_size=4)
        elif f.is_repeated:
            element = self.scalar(f, depth)
            right = st.lists(element, max_size=5 if self.wild else 3)
            if self.wild:
                short = Values(self.world, wild=False).scalar(f, depth)  # a long list, not a huge body
                right |= st.builds(lambda x, n: [x] * n, short, st.sampled_from([101, 1001, 20_000]))
        else:
            right = self.scalar(f, depth)
        return weighted((5, right), (1, self.any_json(depth + 1))) if self.wild else right

    def json_object(self, message: Descriptor, depth: int = 0) -> Strategy[dict[str, Any]]:
        """Some of the message's fields, by proto or JSON name; wild ones with an unknown key now and then."""

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            obj: dict[str, Any] = {}
            for f in message.fields:
                if draw(st.integers(0, 2)):
                    obj[draw(st.sampled_from([f.name, f.json_name]))] = draw(self.field(f, depth))
            if self.wild and not draw(st.integers(0, 7)):
                obj[draw(self.strings())] = draw(self.any_json(depth + 1))
            return obj

        return build()


def to_json(value: Any) -> bytes:
    # ensure_ascii writes lone surrogates as \ud800 escapes, which is the point.
    return json.dumps(value, ensure_ascii=True).encode()


RAW_JSON = [
    b"", b"{", b"}", b"[", b"{}{}", b'{"a":1,}', b"{'a': 1}", b"\xff\xfe", b'{"title":"\xff"}',
    b'{"title":"\xed\xa0\x80"}', b"NaN", b"Infinity", b'{"title":NaN}', b"\x00", b'{"title":"a\\u0000"}',
    b'{"title":"\\ud800"}', b'{"title":"\\udc00\\ud800"}', b'{"title":"\\u12"}', b'{"title": 1e99999}',
    b"  \n ", b'{"a":' * 40 + b"1" + b"}" * 40, b"[" * 200 + b"]" * 200, b"[" * 5000,
    b'{"title":"' + b"x" * 70_000 + b'"}', b'{"title":"a","title":"b"}', b'\xef\xbb\xbf{"title":"bom"}',
]  # fmt: skip
# Not gRPC, though they start like it: a JSON request that says so is still a JSON request.
GRPC_LOOKALIKES = [
    "application/grpc-web",
    "application/grpc-web+json",
    "application/grpc-web-text",
    "application/grpcx",
]
JSON_CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "application/json; charset=latin1", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/octet-stream", "",
    *GRPC_LOOKALIKES,
]  # fmt: skip
UPLOAD_CONTENT_TYPES = [
    "text/plain", "image/png", "application/pdf", "application/octet-stream", "application/json",
    "text/plain; charset=utf-8", "image/svg+xml", "", "x", "text/", "/", "a/b; c", "text/plain; boundary=",
    "application/grpc-web+json", "multipart/mixed; boundary=b",
]  # fmt: skip
FILENAMES = [
    "a.txt", "a.png", "A.PDF", "a.exe", ".txt", "a.", "", " ", "a" * 300 + ".txt", "../../a.txt", "a/b.txt",
    "a\\b.txt", 'a"b.txt', "a;b=c.txt", "a\r\nb.txt", "a\x00.txt", "é.txt", "\U0001f600.txt", "a%ff.txt",
    "con.txt", "a.txt.exe",
]  # fmt: skip


@st.composite
def multipart_body(draw: st.DrawFn) -> tuple[bytes, str]:
    """A multipart/form-data body (often well formed, often not) and its Content-Type."""
    boundary = draw(
        st.one_of(
            st.sampled_from(["b", "x" * 70, "y" * 71, "z" * 257, "a b", "'q'", "", "--", "b;c", '"']),
            st.text(alphabet="abc'()+_,-./:=? ", min_size=1, max_size=80),
        )
    )
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["file", "file", "files", "", "FILE", 'fi"le']))
        filename = draw(st.sampled_from(FILENAMES))
        ctype = draw(st.sampled_from(UPLOAD_CONTENT_TYPES))
        disposition = draw(
            st.sampled_from(
                [
                    f'form-data; name="{name}"; filename="{filename}"',
                    f"form-data; name={name}; filename*=UTF-8''{quote(filename, safe='')}",
                    f'form-data; name="{name}"',
                    "attachment",
                    "",
                ]
            )
        )
        headers = f"Content-Disposition: {disposition}\r\n" + (f"Content-Type: {ctype}\r\n" if ctype else "")
        data = draw(
            st.binary(max_size=64) | st.sampled_from([sample_file(".txt", 20), sample_file(".png", 40)])
        )
        parts.append(f"--{boundary}\r\n{headers}\r\n".encode("utf-8", "surrogatepass") + data + b"\r\n")
    ending = draw(
        st.sampled_from([f"--{boundary}--\r\n", f"--{boundary}--", "", f"--{boundary}\r\n", "--\r\n"])
    )
    body = b"".join(parts) + ending.encode("utf-8", "surrogatepass")
    quoted = draw(st.booleans())
    params = f'boundary="{boundary}"' if quoted else f"boundary={boundary}"
    return body, draw(
        st.sampled_from(
            [f"multipart/form-data; {params}", "multipart/form-data", f"multipart/mixed; {params}"]
        )
    )


# -- requests --------------------------------------------------------------------------------


@dataclass
class FuzzRequest:
    method: str
    target: str  # path and query, exactly as sent (ASCII, already escaped)
    headers: dict[str, str]
    body: bytes | None

    def curl(self, base_url: str, keep: Path | None) -> str:
        """A curl command that sends exactly this request (the body in a file when it is binary or long)."""
        command = ["curl", "-sS", "-i", "--path-as-is", "-g", "-X", self.method, base_url + self.target]
        for name, value in self.headers.items():
            command += ["-H", f"{name}: {value}" if value else f"{name};"]
        if self.body is not None:
            text = self.body.decode("utf-8", "replace")
            if len(self.body) <= 1500 and text.isprintable() and text.encode() == self.body:
                command += ["--data-binary", text]
            elif keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                path = keep / f"body-{abs(hash(self.body)):x}.bin"
                path.write_bytes(self.body)
                command += ["--data-binary", f"@{path}"]
            else:
                command += ["--data-binary", f"<{len(self.body)} bytes: {self.body[:200]!r}...>"]
        return shlex.join(command)


def escaped(text: str) -> str:
    """Percent-encoded UTF-8 (lone surrogates as their 3-byte forms, which is not UTF-8)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def path_segment(draw: st.DrawFn, route: Route, name: str, values: Values) -> str:
    f = route.request.fields_by_name[name]
    if f.type == f.TYPE_STRING:
        value = draw(values.strings(name))
    else:
        value = str(draw(values.integers(id_kind(name, route.template))))
        if values.wild and not draw(st.integers(0, 4)):
            value = draw(
                st.sampled_from(["", "abc", "1.5", "1e3", "0x10", "+1", " 1", "-0", "٣", "1_000", "9" * 30])
            )
    segment = escaped(value)
    choice = draw(st.integers(0, 9)) if values.wild else 9
    if choice == 0:
        segment = draw(st.sampled_from(RAW_ESCAPES)) + segment
    elif choice == 1:
        segment = segment + draw(st.sampled_from(RAW_ESCAPES))
    elif choice == 2:
        segment = "".join(f"%{b:02X}" for b in value.encode("utf-8", "surrogatepass"))  # all escaped
    return segment


def query_value(f: FieldDescriptor, values: Values) -> Strategy[str]:
    if f.type == f.TYPE_BOOL:
        tame = st.sampled_from(["true", "false"])
        odd = st.sampled_from(["1", "0", "TRUE", "yes", "", "t", "null"])
    elif f.type == f.TYPE_STRING:
        return values.strings(f.name)
    elif f.type == f.TYPE_ENUM:
        tame = st.sampled_from([v.name for v in f.enum_type.values])
        odd = st.sampled_from(["-1", "99"])
    else:
        tame = values.integers(id_kind(f.name)).map(str)
        odd = st.sampled_from(["", "1.5", "abc", "1e3", "0x1", "-0"])
    return weighted((3, tame), (1, odd), (1, values.strings())) if values.wild else tame


@st.composite
def query_string(draw: st.DrawFn, route: Route, values: Values) -> str:
    pairs: list[str] = []
    for f in route.query_fields:
        if draw(st.integers(0, 2)):
            continue
        repeats = (
            draw(st.integers(1, 3)) if f.is_repeated else 1 + (values.wild and not draw(st.integers(0, 15)))
        )
        for _ in range(repeats):
            key = draw(st.sampled_from([f.name, f.json_name]))
            value = escaped(draw(query_value(f, values)))
            if values.wild and not draw(st.integers(0, 9)):
                value += draw(st.sampled_from(RAW_ESCAPES))
            pairs.append(f"{key}={value}")
    extra = draw(st.integers(0, 19)) if values.wild else 19
    if extra == 0:
        pairs.append(f"{escaped(draw(values.strings()))}=1")  # an unknown parameter
    elif extra == 1:
        pairs.append(draw(st.sampled_from(["", "=", "&", "a", "%ff=1", "x=%ff", "tags", "limit"])))
    return "&".join(pairs)


@st.composite
def upload_body(draw: st.DrawFn, values: Values) -> tuple[bytes, str | None]:
    if values.wild and draw(st.booleans()):
        return draw(multipart_body())
    if not values.wild:
        extension = draw(st.sampled_from([".txt", ".png", ".pdf"]))
        ctype = {".txt": "text/plain", ".png": "image/png", ".pdf": "application/pdf"}[extension]
        data = sample_file(extension, draw(st.integers(10, 200)))
        if draw(st.booleans()):
            boundary = draw(st.text(alphabet=WORD, min_size=1, max_size=40))
            return (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a{extension}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n".encode()
                + data
                + f"\r\n--{boundary}--\r\n".encode()
            ), f"multipart/form-data; boundary={boundary}"
        return data, ctype
    data = draw(st.binary(max_size=100) | st.sampled_from([sample_file(".txt", 30), sample_file(".png", 30)]))
    return data, draw(st.sampled_from(UPLOAD_CONTENT_TYPES)) or None


@st.composite
def request_body(draw: st.DrawFn, route: Route, values: Values) -> tuple[bytes | None, str | None]:
    """(body, content type) for the route: JSON of the whole message or of one field, upload bytes,
    or (wild) for routes without a body now and then one anyway."""
    target = route.body_field
    if target is not None and target.message_type and target.message_type.full_name == "google.api.HttpBody":
        return draw(upload_body(values))
    choice = draw(st.integers(0, 19)) if values.wild else 19
    if route.body == "" and choice > 1:
        return None, None
    ctype = "application/json" if choice else draw(st.sampled_from(JSON_CONTENT_TYPES)) or None
    if choice <= 1:
        return draw(st.sampled_from(RAW_JSON)), ctype
    if choice == 2:
        return to_json(draw(values.any_json())), ctype
    if target is None:
        return to_json(draw(values.json_object(route.request))), ctype
    return to_json(draw(values.field(target, 0))), ctype


ODD_HEADERS = [
    ("x-http-code", "500"),
    ("x-response-body", "tasks"),
    ("grpc-timeout", "1n"),
    ("grpc-timeout", "99999999999S"),
    ("grpc-encoding", "gzip"),
    ("grpc-encoding", "nonsense"),
    ("grpc-accept-encoding", "gzip"),
    ("grpc-status", "13"),
    ("grpc-message", "boom"),
    ("grpc-status-details-bin", "AAAA"),
    ("x-envoy-original-path", "/internal"),
    ("x-envoy-upstream-rq-timeout-ms", "1"),
    ("x-envoy-max-retries", "5"),
    ("x-envoy-retry-on", "5xx"),
    ("x-request-id", "x" * 300),
    ("x-forwarded-proto", "gopher"),
    ("te", "trailers"),
    ("accept", "application/grpc"),
    ("x-json-client", "0"),
    ("x-forwarded-for", "not an address"),
    ("content-encoding", "gzip"),
]


@st.composite
def authorization(draw: st.DrawFn, world: World, bad_tokens: list[str]) -> str | None:
    choice = draw(st.integers(0, 39))
    if choice < 34:
        return f"Bearer {world.me.token}"
    if choice < 36:
        return f"Bearer {world.other.token}"
    if choice == 36:
        return None
    return draw(
        st.one_of(
            st.sampled_from(bad_tokens).map(lambda t: f"Bearer {t}"),
            st.sampled_from(["Bearer", "bearer x.y.z", "Basic YTpi", "Bearer a.b.c", "x" * 9000]),
            st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=60).map(lambda t: f"Bearer {t}"),
        )
    )


@st.composite
def fuzz_request(draw: st.DrawFn, route: Route, world: World, bad_tokens: list[str]) -> FuzzRequest:
    """One request to the route: a third tame (plausible values), the rest wild."""
    values = Values(world, wild=bool(draw(st.integers(0, 2))))
    path = route.template
    for name in route.path_fields:
        segment = draw(path_segment(route, name, values))
        path = re.sub(r"\{" + name + r"(?:=[^}]*)?\}", lambda _m, value=segment: value, path)
    query = draw(query_string(route, values))
    body, ctype = draw(request_body(route, values))
    headers: dict[str, str] = {}
    token = draw(authorization(world, bad_tokens)) if values.wild else f"Bearer {world.me.token}"
    if token is not None:
        headers["authorization"] = token
    if ctype is not None:
        headers["content-type"] = ctype
    if values.wild and not draw(st.integers(0, 19)):
        name, value = draw(st.sampled_from(ODD_HEADERS))
        headers[name] = value
    return FuzzRequest(route.verb, path + (f"?{query}" if query else ""), headers, body)


# -- the property ------------------------------------------------------------------------------

EXCEPTION_NAMES = sorted(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException) and name not in ("Exception", "Warning")
)
LEAKS = re.compile(
    r"Traceback|\b(" + "|".join(EXCEPTION_NAMES) + r"|DecodeError|IntegrityError|DataError|ProgrammingError"
    r"|sqlalchemy|psycopg|asyncpg|AioRpcError|_InactiveRpcError|redis\.exceptions)\b"
)
STATUS_KEYS = {"code", "message", "details"}


def problems(response: httpx.Response) -> list[str]:
    """What is wrong with an answer (nothing for a good one)."""
    found = []
    status = response.status_code
    if status >= 500:
        found.append(f"HTTP {status}")
    if status == 429 and "retry-after" not in response.headers:
        found.append("429 without Retry-After")
    text = response.content.decode("utf-8", "replace")
    if status >= 400 or "Traceback" in text:
        leak = LEAKS.search(text)
        if leak:
            found.append(f"shows {leak.group(0)!r}")
    if status >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.headers.get("content-type", "").startswith("application/json"):
            found.append(f"error content-type {response.headers.get('content-type')!r}")
        if not (isinstance(body, dict) and set(body) == STATUS_KEYS):
            found.append("error body is not {code, message, details}")
        elif not (isinstance(body["code"], int) and isinstance(body["message"], str)):
            found.append("error body has wrong member types")
    return found


def signature(problem: str, response: httpx.Response | None) -> str:
    """What groups failures of one cause: the problem and the error message with numbers blurred."""
    message = ""
    if response is not None:
        try:
            message = str(response.json().get("message", ""))
        except (ValueError, AttributeError):
            message = response.text
    return f"{problem}: {re.sub(r'[0-9]+', 'N', message)[:100]}"


@dataclass
class Fuzzer:
    http: httpx.Client
    base_url: str
    keep: Path
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)  # "<route> <status>": how deep the fuzz got
    failures: dict[str, list[str]] = field(default_factory=dict)

    def record(self, where: str, problem: str, response: httpx.Response | None, reproduce: str) -> None:
        key = f"{where} | {signature(problem, response)}"
        self.failures.setdefault(key, []).append(reproduce)
        if REPORT:
            with open(REPORT, "a") as out:
                status = None if response is None else response.status_code
                text = None if response is None else response.text[:500]
                out.write(
                    json.dumps(
                        {"where": where, "key": key, "status": status, "body": text, "curl": reproduce}
                    )
                    + "\n"
                )

    def send(self, route: Route, request: FuzzRequest) -> httpx.Response | None:
        self.sent["http"] += 1
        built = self.http.build_request(
            request.method, "/", headers=request.headers, content=request.body,
            extensions={"target": request.target.encode()},
        )  # fmt: skip
        try:
            response = self.http.send(built)
        except httpx.LocalProtocolError:  # a header value that h11 will not send: not the server's fault
            self.sent["unsendable"] += 1
            return None
        except httpx.HTTPError as error:
            self.record(
                str(route),
                f"no answer ({type(error).__name__})",
                None,
                request.curl(self.base_url, self.keep),
            )
            return None
        self.statuses[f"{route} {response.status_code}"] += 1
        for problem in problems(response):
            self.record(str(route), problem, response, request.curl(self.base_url, self.keep))
        return response

    def call_grpc(self, channel: grpc.Channel, method: GrpcMethod, payload: bytes, metadata: Any) -> None:
        self.sent["grpc"] += 1
        try:
            grpc_call(channel, method, payload, metadata)
            self.statuses[f"{method.path} OK"] += 1
            return
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
            trailers = dict(error.trailing_metadata() or ())
        self.statuses[f"{method.path} {code.name}"] += 1
        found = []
        if code in BAD_GRPC_CODES:
            found.append(f"gRPC {code.name}")
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "retry-after" not in trailers:
            found.append("RESOURCE_EXHAUSTED without retry-after")
        leak = LEAKS.search(details)
        if leak:
            found.append(f"shows {leak.group(0)!r}")
        for problem in found:
            reproduce = (
                f"{method.path} bytes {payload!r} metadata {metadata!r} -> {code.name}: {details[:200]}"
            )
            self.record(method.path, f"{problem}: {details[:80]}", None, reproduce)

    def report(self, what: str) -> str:
        lines = [f"{len(self.failures)} distinct failures in {what}:"]
        for key, reproductions in list(self.failures.items())[:SHOWN_FAILURES]:
            lines += [f"* {key}  ({len(reproductions)} times)", f"    {reproductions[0]}"]
        return "\n".join(lines)


# -- the tests -------------------------------------------------------------------------------

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests in every run (and no example database)
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def world(http: httpx.Client, gateway_channel: grpc.Channel) -> World:
    return World.build(http, gateway_channel)


@pytest.fixture(scope="module")
def bad_tokens(jwt_keys_dir: Path, world: World) -> list[str]:
    return [
        expired_token(jwt_keys_dir),
        wrong_key_token(jwt_keys_dir),
        alg_none_token(jwt_keys_dir),
        tampered_token(world.me.token),
    ]


@pytest.fixture(scope="module")
def fuzzer(
    http: httpx.Client, stack: Any, tmp_path_factory: pytest.TempPathFactory, request: Any
) -> Iterator[Fuzzer]:
    running = Fuzzer(http, stack.gateway_url, tmp_path_factory.mktemp("fuzz-bodies"))
    yield running
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    summary = f"fuzz: {running.sent['http']} HTTP requests, {running.sent['grpc']} native gRPC calls"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown even when the run passes
            reporter.write_line(summary)
    if REPORT:
        with open(REPORT, "a") as out:
            out.write(
                json.dumps({"summary": summary, "statuses": dict(sorted(running.statuses.items()))}) + "\n"
            )


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_no_route_answers_5xx_or_a_wrong_error_shape(
    route: Route, world: World, bad_tokens: list[str], fuzzer: Fuzzer
) -> None:
    @FUZZ_SETTINGS
    @given(st.data())
    def run(data: st.DataObject) -> None:
        world.refresh()
        request = data.draw(fuzz_request(route, world, bad_tokens))
        response = fuzzer.send(route, request)
        if response is not None and route.verb == "DELETE" and response.is_success:
            world.repair()

    before = len(fuzzer.failures)
    run()
    assert len(fuzzer.failures) == before, fuzzer.report(str(route))


def test_odd_headers_on_json_requests(world: World, fuzzer: Fuzzer) -> None:
    """Every odd header and gRPC look-alike content type, on a read, a write and an anonymous call:
    each is rare in the random runs, so each gets a request of its own here."""
    routes = {str(route): route for route in ROUTES}
    samples = [
        ("GET /auth/me", "/auth/me", None, True),
        ("POST /tasks", "/tasks", b'{"title": "odd header"}', True),
        ("GET /tasks/stats", "/tasks/stats", None, False),
    ]
    headers = ODD_HEADERS + [("content-type", value) for value in GRPC_LOOKALIKES]
    before = len(fuzzer.failures)
    for name, value in headers:
        for route, target, body, with_token in samples:
            sent = {"authorization": f"Bearer {world.me.token}"} if with_token else {}
            if body is not None:
                sent["content-type"] = "application/json"
            fuzzer.send(routes[route], FuzzRequest(routes[route].verb, target, {**sent, name: value}, body))
    assert len(fuzzer.failures) == before, fuzzer.report("odd headers")


def test_the_routes_come_from_the_contracts() -> None:
    """Every transcoded service has routes here, with the bindings API.md lists."""
    assert {r.service for r in ROUTES} == set(TRANSCODED_SERVICES)
    listed = {str(r) for r in ROUTES}
    assert {
        "POST /tasks/{task_id}/files",
        "PATCH /comments/{comment_id}",
        "DELETE /tasks/{id}/tags/{tag}",
    } <= listed


# -- native gRPC -------------------------------------------------------------------------------

BAD_GRPC_CODES = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@st.composite
def wire_message(draw: st.DrawFn, message: Descriptor, depth: int = 0) -> bytes:
    """Protobuf wire bytes: the message's fields with their own or another wire type, payloads that
    need not be valid (strings that are not UTF-8, lengths past the end), unknown fields."""
    out = b""
    numbers = [f.number for f in message.fields] + [99, 536870911]
    for _ in range(draw(st.integers(0, 5))):
        number = draw(st.sampled_from(numbers))
        f = message.fields_by_number.get(number)
        wire = draw(st.sampled_from([0, 1, 2, 5, 3, 7]))
        if f is not None and draw(st.booleans()):
            wire = 2 if f.type in (f.TYPE_STRING, f.TYPE_BYTES, f.TYPE_MESSAGE) else 0
        out += varint(number << 3 | wire)
        if wire == 0:
            out += varint(draw(st.sampled_from(INT_EDGES) | st.integers(0, 2**64 - 1)))
        elif wire == 1:
            out += draw(st.binary(min_size=8, max_size=8))
        elif wire == 5:
            out += draw(st.binary(min_size=4, max_size=4))
        elif wire == 2:
            if f is not None and f.message_type is not None and depth < 3 and draw(st.booleans()):
                payload = draw(wire_message(f.message_type, depth + 1))
            else:
                payload = draw(
                    st.one_of(st.binary(max_size=30), st.sampled_from([b"\xff", b"\xed\xa0\x80", b"a\x00"]))
                )
            length = len(payload) + draw(st.sampled_from([0, 0, 0, 1, -1, 1000]))
            out += varint(max(length, 0)) + payload
    if not draw(st.integers(0, 9)):
        out = out[: draw(st.integers(0, len(out)))]  # cut anywhere
    return out


def grpc_call(channel: grpc.Channel, method: GrpcMethod, payload: bytes, metadata: Any) -> None:
    raw: dict[str, Callable[[bytes], bytes]] = {
        "request_serializer": lambda b: b,
        "response_deserializer": bytes,
    }
    if method.client_streaming:
        channel.stream_unary(method.path, **raw)(
            iter([payload, payload[::-1]]), metadata=metadata, timeout=10
        )
    elif method.server_streaming:
        for _ in channel.unary_stream(method.path, **raw)(payload, metadata=metadata, timeout=10):
            pass
    else:
        channel.unary_unary(method.path, **raw)(payload, metadata=metadata, timeout=10)


@pytest.mark.timeout(1800)
def test_native_grpc_with_random_bytes_never_fails_inside(
    gateway_channel: grpc.Channel, world: World, fuzzer: Fuzzer
) -> None:
    @settings(FUZZ_SETTINGS, max_examples=GRPC_EXAMPLES)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        world.refresh()
        method = data.draw(st.sampled_from(GRPC_METHODS))
        payload = data.draw(st.one_of(wire_message(method.request), st.binary(max_size=64)))
        token = data.draw(st.sampled_from([world.me.token] * 8 + ["", "garbage"]))
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        fuzzer.call_grpc(gateway_channel, method, payload, metadata)

    before = len(fuzzer.failures)
    run()
    assert len(fuzzer.failures) == before, fuzzer.report("native gRPC")
