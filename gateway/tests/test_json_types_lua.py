"""The strict JSON type check (gateway/lua/json_types.lua) under LuaJIT, the interpreter Envoy embeds.

The parser and checker against hand-written shapes, route matching and the request hook against the
shapes generated from the protos (build/gateway/json_shapes.lua, `make protos`). The end-to-end
suite (tests/e2e/test_strict_json.py) runs the same through Envoy."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import lupa.luajit21 as luajit
import pytest

from tm_devstack.gateway import lua_source

ROOT_DIR = Path(__file__).resolve().parents[2]
LUA = ROOT_DIR / "gateway" / "lua"

# Shapes as tools/gen_json_shapes.py writes them, covering every kind it emits.
SHAPES = """
JSON_SHAPES = {
  messages = {
    ["t.Root"] = {
      flag = {n = "flag", k = "bool"}, name = {n = "name", k = "string"},
      required = {n = "required", k = "string", nn = true},
      count = {n = "count", k = "int32"}, size = {n = "size", k = "uint32"},
      big = {n = "big", k = "int64"}, ubig = {n = "ubig", k = "uint64"},
      ratio = {n = "ratio", k = "float"}, color = {n = "color", k = "enum"},
      data = {n = "data", k = "bytes"}, any = {n = "any", k = "value"},
      ["struct"] = {n = "struct", k = "struct"}, list = {n = "list", k = "listvalue"},
      values = {n = "values", k = "value", r = true},
      tags = {n = "tags", k = "string", r = true}, ids = {n = "ids", k = "int32", r = true},
      child = {n = "child", k = "message", m = "t.Child"},
      children = {n = "children", k = "message", m = "t.Child", r = true},
      byId = {n = "by_id", k = "map", mk = "int32", v = {k = "string"}},
      by_id = {n = "by_id", k = "map", mk = "int32", v = {k = "string"}},
      bySwitch = {n = "by_switch", k = "map", mk = "bool", v = {k = "message", m = "t.Child"}},
      self = {n = "self", k = "message", m = "t.Root"},
    },
    ["t.Child"] = {done = {n = "done", k = "bool"}},
    ["t.Pinned"] = {id = {n = "id", k = "int32", nn = true}, name = {n = "name", k = "string"}},
  },
  routes = {},
}
"""
ROOT = {"n": "", "k": "message", "m": "t.Root"}
# A body whose `id` the path sets, and one that refuses unknown members.
PINNED = {"n": "", "k": "message", "m": "t.Pinned", "pv": {"id": True}}
CLOSED = {"n": "", "k": "message", "m": "t.Pinned", "closed": "is not a field of this request"}


@pytest.fixture(scope="module")
def checker() -> Any:
    runtime = luajit.LuaRuntime()
    runtime.execute((LUA / "json_member.lua").read_text())  # json_unescape
    runtime.execute((LUA / "json_types.lua").read_text())
    runtime.execute(SHAPES)
    return runtime


def problem(checker: Any, body: str, spec: dict[str, Any] | None = None) -> tuple[str, str] | None:
    found = checker.globals().json_body_error(body, checker.table_from(spec or ROOT, recursive=True))
    return None if found is None else tuple(found)


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        ' \r\n\t{ "flag" : true , "name" : "x" } \n',
        '{"flag":false,"name":"a\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00","data":"AAE="}',
        '{"count":-2147483648,"size":4294967295,"big":"-9223372036854775808","ubig":"18446744073709551615"}',
        '{"count":2147483647,"big":9007199254740993,"ubig":"7"}',
        '{"count":0,"size":0,"ids":[1,2,-0]}',
        '{"required":"x"}',
        '{"ratio":1.5e-3,"color":"RED"}',
        '{"ratio":"NaN"}',
        '{"ratio":"-Infinity","color":2}',
        '{"ratio":"2.5"}',
        '{"any":{"a":[1,null,{"b":"c"}]},"struct":{"x":null},"list":[null,1],"values":[null,"a",{}]}',
        '{"tags":["a","b"],"children":[{"done":true},{}],"child":{"done":false}}',
        '{"by_id":{"1":"a","-7":"b"},"bySwitch":{"true":{"done":true},"false":{}}}',
        '{"flag":null,"name":null,"count":null,"tags":null,"child":null,"by_id":null}',
        '{"unknown":{"deep":[1,2,{"x":[true,false,null,"s",-1.5e+7]}]},"other":"x"}',
        '{"self":{"self":{"flag":true}}}',
    ],
)
def test_proto3_json_is_accepted(checker, body: str) -> None:
    assert problem(checker, body) is None


@pytest.mark.parametrize(
    "body, path, description",
    [
        ('{"flag":"yes"}', "flag", "must be true or false"),
        ('{"flag":"true"}', "flag", "must be true or false"),
        ('{"flag":1}', "flag", "must be true or false"),
        ('{"flag":[true]}', "flag", "must be true or false"),
        ('{"name":5}', "name", "must be a string"),
        ('{"name":{}}', "name", "must be a string"),
        ('{"data":true}', "data", "must be a string"),
        ('{"count":1.5}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"count":2147483648}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"count":"-2147483649"}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"count":"1.0"}', "count", "must be an integer from -2147483648 to 2147483647"),
        # Strings and fractions or exponents are not integers, even when proto3 JSON takes them.
        ('{"count":"5"}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"size":"5"}', "size", "must be an integer from 0 to 4294967295"),
        ('{"count":1.0}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"count":1e3}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"count":-0.0}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"ids":[1,"2"]}', "ids[1]", "must be an integer from -2147483648 to 2147483647"),
        ('{"ids":[3E0]}', "ids[0]", "must be an integer from -2147483648 to 2147483647"),
        ('{"big":1.0}', "big", "must be an integer from -9223372036854775808 to 9223372036854775807"),
        ('{"required":null}', "required", "must not be null"),
        ('{"count":"01"}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"count":" 1"}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"count":true}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"count":1e400}', "count", "must be an integer from -2147483648 to 2147483647"),
        ('{"size":-1}', "size", "must be an integer from 0 to 4294967295"),
        (
            '{"big":"9223372036854775808"}',
            "big",
            "must be an integer from -9223372036854775808 to 9223372036854775807",
        ),
        ('{"ubig":"18446744073709551616"}', "ubig", "must be an integer from 0 to 18446744073709551615"),
        ('{"ratio":"fast"}', "ratio", "must be a number"),
        ('{"ratio":true}', "ratio", "must be a number"),
        ('{"color":true}', "color", "must be a name or a number"),
        ('{"color":1.5}', "color", "must be a name or a number"),
        ('{"tags":"solo"}', "tags", "must be a list"),
        ('{"tags":{}}', "tags", "must be a list"),
        ('{"tags":["a",null]}', "tags[1]", "must not be null"),
        ('{"tags":[["a"]]}', "tags[0]", "must be a string"),
        ('{"ids":[1,"x"]}', "ids[1]", "must be an integer from -2147483648 to 2147483647"),
        ('{"child":"x"}', "child", "must be an object"),
        ('{"child":[]}', "child", "must be an object"),
        ('{"child":{"done":"no"}}', "child.done", "must be true or false"),
        ('{"children":[{},{"done":0}]}', "children[1].done", "must be true or false"),
        ('{"children":{"done":true}}', "children", "must be a list"),
        ('{"self":{"self":{"tags":[1]}}}', "self.self.tags[0]", "must be a string"),
        ('{"by_id":[]}', "by_id", "must be an object"),
        ('{"by_id":{"x":"a"}}', 'by_id["x"]', "must be keyed by an integer from -2147483648 to 2147483647"),
        ('{"by_id":{"1":2}}', 'by_id["1"]', "must be a string"),
        ('{"by_id":{"1":null}}', 'by_id["1"]', "must not be null"),
        ('{"by_id":{"1":"a","1":"b"}}', 'by_id["1"]', "is given more than once"),
        ('{"bySwitch":{"yes":{}}}', 'by_switch["yes"]', "must be keyed by true or false"),
        ('{"bySwitch":{"true":{"done":1}}}', 'by_switch["true"].done', "must be true or false"),
        ('{"struct":[]}', "struct", "must be an object"),
        ('{"list":{}}', "list", "must be a list"),
        ('{"flag":true,"flag":false}', "flag", "is given more than once"),
        ('{"by_id":{},"byId":{}}', "by_id", "is given more than once"),
        ('{"\\u0066lag":"yes"}', "flag", "must be true or false"),  # an escaped key is the same key
        ("[]", "", "must be a JSON object"),
        ("null", "", "must be a JSON object"),
        ('"x"', "", "must be a JSON object"),
        (" ", "", "must be a JSON object"),
    ],
)
def test_loose_types_name_the_field(checker, body: str, path: str, description: str) -> None:
    assert problem(checker, body) == (path, description)


@pytest.mark.parametrize(
    "body",
    [
        "{",
        '{"flag":true',
        '{"flag":true,}',
        '{"flag" true}',
        "{flag:true}",
        "{'flag':true}",
        '{"flag":True}',
        '{"flag":tru}',
        '{"name":"a\nb"}',  # a raw control character
        '{"name":"\\x"}',
        '{"name":"\\u12"}',
        '{"count":01}',
        '{"count":1.}',
        '{"count":.5}',
        '{"count":+1}',
        '{"count":1e}',
        '{"count":-}',
        '{"unknown":[1,]}',
        '{"unknown":NaN}',
        '{"flag":true} {}',
        '{"flag":true}x',
        '{"name":"unterminated}',
    ],
)
def test_malformed_json_is_refused_as_the_body(checker, body: str) -> None:
    path, description = problem(checker, body)
    assert path == "" and description.startswith("is not valid JSON (at byte ")


def test_nesting_is_bounded(checker) -> None:
    depth = checker.globals().JSON_MAX_DEPTH
    fits = '{"unknown":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    assert problem(checker, fits) is None
    deeper = '{"unknown":' + "[" * depth + "]" * depth + "}"
    assert problem(checker, deeper) == ("", "is nested too deeply")
    assert problem(checker, "[" * 100_000) is not None  # no stack overflow


def test_a_list_body_is_named_after_its_field(checker) -> None:
    tags = {"n": "tags", "k": "string", "r": True}
    assert problem(checker, '["a","b"]', tags) is None
    assert problem(checker, "null", tags) == ("tags", "must be a list")  # not "no tags"
    assert problem(checker, '"solo"', tags) == ("tags", "must be a list")
    assert problem(checker, '["a",1]', tags) == ("tags[1]", "must be a string")


def test_long_lists_are_checked_to_the_last_element(checker) -> None:
    body = '{"tags":[' + ",".join(['"tag"'] * 10_000) + '],"ids":[' + ",".join(["12345"] * 10_000) + "]}"
    assert problem(checker, body) is None
    assert problem(checker, body[:-2] + ',"x"]}') == (
        "ids[10000]",
        "must be an integer from -2147483648 to 2147483647",
    )


# -- routes and the request hook, with the shapes generated from the protos ----------------------------
FAKE_HANDLE = """
function make_handle(header_table, body_text)
  local calls = {read = 0, metadata = {}}
  local headers = {}
  function headers:get(name) return header_table[name] end
  function headers:replace(name, value) header_table[name] = value end
  function headers:remove(name) header_table[name] = nil end
  local handle = {}
  function handle:headers() return headers end
  function handle:body()
    calls.read = calls.read + 1
    if body_text == nil then return nil end
    local body = {}
    function body:length() return #body_text end
    function body:getBytes(from, n) return string.sub(body_text, from + 1, from + n) end
    return body
  end
  function handle:streamInfo()
    local info = {}
    function info:dynamicMetadata()
      local metadata = {}
      function metadata:set(filter, key, value) calls.metadata[filter .. "/" .. key] = value end
      return metadata
    end
    return info
  end
  function handle:respond(reply_headers, reply_body)
    calls.status = reply_headers[":status"]
    calls.content_type = reply_headers["content-type"]
    calls.body = reply_body
  end
  return handle, calls
end
"""


@pytest.fixture(scope="module")
def gateway() -> Any:
    runtime = luajit.LuaRuntime()
    runtime.execute(lua_source())
    runtime.execute(FAKE_HANDLE)
    return runtime


def route(gateway: Any, method: str, path: str) -> Any:
    spec = gateway.globals().json_body_shape(method, path)
    if spec is None or spec is False:
        return spec
    return spec["m"] or spec["n"]


@pytest.mark.parametrize(
    "method, path, expected",
    [
        ("POST", "/tasks", "taskmanager.tasks.v1.CreateTaskRequest"),
        ("POST", "/tasks?x=1", "taskmanager.tasks.v1.CreateTaskRequest"),
        ("POST", "/tasks/", "taskmanager.tasks.v1.CreateTaskRequest"),
        ("PATCH", "/tasks/bulk", "taskmanager.tasks.v1.BulkUpdateTasksRequest"),
        ("PATCH", "/tasks/7", "taskmanager.tasks.v1.TaskPatch"),
        ("PATCH", "/tasks/%62ulk", "taskmanager.tasks.v1.TaskPatch"),  # literals are not unescaped
        ("POST", "/tasks/7/tags", "tags"),
        ("POST", "/tasks/7/tags//", "tags"),
        ("POST", "/tasks//tags", "tags"),  # an empty segment is a value
        ("POST", "/tasks/7/share", "taskmanager.tasks.v1.ShareTaskRequest"),
        ("PUT", "/tasks/7/share/bob", "taskmanager.tasks.v1.UpdateSharePermissionRequest"),
        ("PATCH", "/tasks/7/comments/3", "taskmanager.tasks.v1.UpdateCommentRequest"),
        ("PATCH", "/comments/3", "taskmanager.tasks.v1.UpdateCommentRequest"),
        ("PATCH", "/notifications/preferences", "taskmanager.notify.v1.UpdatePreferencesRequest"),
        ("POST", "/auth/register", "taskmanager.auth.v1.RegisterRequest"),
        ("POST", "/files/upload-url", "taskmanager.files.v1.CreateUploadUrlRequest"),
        ("GET", "/tasks/bulk", False),  # no GET on the literal: the transcoder backtracks to /tasks/{id}
        ("GET", "/tasks", False),
        ("POST", "/tasks/7/files", False),  # the upload: raw bytes (HttpBody)
        ("POST", "/files/7/download-url", False),
        ("DELETE", "/tasks/7", False),
        ("POST", "/tasks/7:tags", None),  # no custom verbs: "7:tags" is the id, and it has no POST
        ("POST", "/tasks/7/tags/extra", None),
        ("PATCH", "/TASKS/bulk", None),
        ("patch", "/tasks/bulk", None),
        ("POST", "/taskmanager.tasks.v1.TasksService/CreateTask", None),
    ],
)
def test_routes_are_matched_as_the_transcoder_matches_them(gateway, method, path, expected) -> None:
    assert route(gateway, method, path) == expected


def request(gateway: Any, headers: dict[str, str], body: str | None) -> Any:
    table = gateway.table_from({":method": "POST", ":path": "/tasks", **headers})
    handle, calls = gateway.globals().make_handle(table, body)
    refused = gateway.globals().refuse_loose_json(handle)
    return refused, calls


def test_a_loose_type_is_refused_with_a_bad_request(gateway) -> None:
    refused, calls = request(gateway, {"content-type": "application/json"}, '{"title":"t","completed":"yes"}')
    assert refused is True
    assert (calls.status, calls.content_type) == ("400", "application/json")
    assert calls.metadata["taskmanager.json_types/refused"] is True  # local_reply_config keeps the body
    assert json.loads(calls.body) == {
        "code": 3,
        "message": "completed: must be true or false",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": [
                    {"field": "completed", "description": "must be true or false", "reason": ""}
                ],
            }
        ],
    }


def test_a_body_error_has_no_field(gateway) -> None:
    refused, calls = request(gateway, {}, '{"title":')
    assert refused is True
    assert json.loads(calls.body) == {
        "code": 3,
        "message": "request body is not valid JSON (at byte 10)",
        "details": [],
    }


def test_a_good_body_passes(gateway) -> None:
    refused, calls = request(gateway, {"content-type": "text/plain"}, '{"title":"t","completed":true}')
    assert refused is False and calls.status is None and calls.read == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/grpc"},
        {"content-type": "application/grpc+proto"},
        {":method": "GET"},
        {":path": "/tasks/7/files"},  # an upload
        {":path": "/taskmanager.tasks.v1.TasksService/CreateTask"},
    ],
    ids=lambda h: " ".join(h.values()),
)
def test_what_the_transcoder_does_not_read_as_json_is_not_read(gateway, headers) -> None:
    refused, calls = request(gateway, headers, '{"completed":"yes"}')
    assert refused is False and calls.read == 0


def test_grpc_web_is_transcoded_so_it_is_checked(gateway) -> None:
    refused, _ = request(gateway, {"content-type": "application/grpc-web"}, '{"completed":"yes"}')
    assert refused is True


def test_no_body_is_an_empty_message_but_not_an_empty_list(gateway) -> None:
    assert request(gateway, {}, None)[0] is False
    assert request(gateway, {}, "")[0] is False
    refused, calls = request(gateway, {":path": "/tasks/7/tags"}, None)
    assert refused is True and json.loads(calls.body)["code"] == 3


def test_envoy_on_request_runs_the_check(gateway) -> None:
    table = gateway.table_from({":method": "POST", ":path": "/tasks", "content-type": "application/json"})
    handle, calls = gateway.globals().make_handle(table, '{"title":"t","tags":"solo"}')
    gateway.globals().envoy_on_request(handle)
    assert calls.status == "400" and "tags: must be a list" in calls.body


# -- the generated table covers every transcoded route ------------------------------------------------
def transcoded_rules() -> list[tuple[str, str, str, str]]:
    """(verb, path with "7" for each variable, body, input type) of every HTTP rule Envoy transcodes."""
    from google.api import annotations_pb2
    from google.protobuf import descriptor_pb2

    from tm_devstack.gateway import ROOT, TRANSCODED_SERVICES

    files = descriptor_pb2.FileDescriptorSet.FromString(
        (ROOT / "build" / "descriptors" / "taskmanager.pb").read_bytes()
    ).file
    rules = []
    for file in files:
        for service in file.service:
            if f"{file.package}.{service.name}" not in TRANSCODED_SERVICES:
                continue
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in [rule, *rule.additional_bindings]:
                    verb = binding.WhichOneof("pattern")
                    if verb:
                        path = re.sub(r"\{[^}]*\}", "7", getattr(binding, verb))
                        rules.append((verb.upper(), path, binding.body, method.input_type))
    return rules


def test_every_transcoded_route_is_in_the_table(gateway) -> None:
    rules = transcoded_rules()
    assert len(rules) > 30
    for verb, path, body, input_type in rules:
        spec = gateway.globals().json_body_shape(verb, path)
        assert spec is not None, (verb, path)
        raw = body == "content"  # the upload's google.api.HttpBody
        assert (spec is False) == (not body or raw), (verb, path, body)
        if body == "*":
            assert spec["m"] == input_type.lstrip("."), (verb, path)


@pytest.mark.parametrize("template", ["/v1/{name=**}", "/v1/{name=shelves/*}", "/v1/things:batch", "/v1/**"])
def test_the_generator_refuses_templates_the_lua_cannot_match(template: str) -> None:
    spec = importlib.util.spec_from_file_location(
        "gen_json_shapes", ROOT_DIR / "tools" / "gen_json_shapes.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.template_segments("/tasks/{id}/tags") == ["tasks", "*", "tags"]
    with pytest.raises(ValueError):
        module.template_segments(template)


def test_a_field_the_path_sets_is_refused_in_the_body(checker) -> None:
    assert problem(checker, '{"name":"x"}', PINNED) is None
    assert problem(checker, '{"name":"x","id":7}', PINNED) == ("id", "is set by the path")
    assert problem(checker, '{"name":"x","id":null}', PINNED) == ("id", "is set by the path")
    assert problem(checker, '{"id":7}', {k: v for k, v in PINNED.items() if k != "pv"}) is None


def test_a_closed_body_refuses_unknown_members_naming_them(checker) -> None:
    assert problem(checker, '{"name":"x"}', CLOSED) is None
    assert problem(checker, "{}", CLOSED) is None
    assert problem(checker, '{"name":"x","extra":1}', CLOSED) == ("extra", "is not a field of this request")
    assert (
        problem(checker, '{"name":"x","extra":1}', {k: v for k, v in CLOSED.items() if k != "closed"}) is None
    )


# -- path variables and query parameters ------------------------------------------------------------
@pytest.fixture(scope="module")
def params(checker) -> Any:
    checker.execute(
        """
        PARAMS_ROUTE = {b = false,
          p = {[2] = {n = "id", k = "int32", nn = true}, [3] = {n = "name", k = "string"}},
          q = {limit = {n = "limit", k = "int32"}, done = {n = "done", k = "bool"},
               tags = {n = "tags", k = "string", r = true}, sortBy = {n = "sort_by", k = "string"},
               sort_by = {n = "sort_by", k = "string"}, size = {n = "size", k = "uint32"},
               ratio = {n = "ratio", k = "float"}}}
        """
    )
    return checker


def params_problem(params: Any, segments: list[str], query: str | None) -> tuple[str, str] | None:
    g = params.globals()
    found = g.json_params_error(g.PARAMS_ROUTE, params.table_from(segments), query)
    return None if found is None else tuple(found)


@pytest.mark.parametrize(
    "segments, query",
    [
        (["t", "7", "x"], None),
        (["t", "0", ""], ""),
        (["t", "-1", "a b"], "limit=5"),
        (["t", "%37", "x"], "limit=%35&done=true"),
        (["t", "2147483647", "x"], "tags=a&tags=b&tags=&sortBy=id&ratio=1.5&size=0&done=false"),
        (["t", "7", "x"], "&&limit=-3&"),
        (["t", "7", "x"], "tags"),
    ],
)
def test_canonical_path_and_query_values_pass(params, segments, query) -> None:
    assert params_problem(params, segments, query) is None


INT32 = "must be an integer from -2147483648 to 2147483647"


@pytest.mark.parametrize(
    "segments, query, expected",
    [
        (["t", "abc", "x"], None, ("id", INT32)),
        (["t", "1.0", "x"], None, ("id", INT32)),
        (["t", "+1", "x"], None, ("id", INT32)),
        (["t", "%2B1", "x"], None, ("id", INT32)),
        (["t", "01", "x"], None, ("id", INT32)),
        (["t", "1e1", "x"], None, ("id", INT32)),
        (["t", "%201", "x"], None, ("id", INT32)),
        (["t", "-0", "x"], None, ("id", INT32)),
        (["t", "", "x"], None, ("id", INT32)),
        (["t", "2147483648", "x"], None, ("id", INT32)),
        (["t", "7", "x"], "limit=abc", ("limit", INT32)),
        (["t", "7", "x"], "limit=1.5", ("limit", INT32)),
        (["t", "7", "x"], "limit=99999999999", ("limit", INT32)),
        (["t", "7", "x"], "limit=05", ("limit", INT32)),
        (["t", "7", "x"], "limit=%2B5", ("limit", INT32)),
        (["t", "7", "x"], "limit=+5", ("limit", INT32)),
        (["t", "7", "x"], "limit=", ("limit", INT32)),
        (["t", "7", "x"], "limit", ("limit", INT32)),
        (["t", "7", "x"], "size=-1", ("size", "must be an integer from 0 to 4294967295")),
        (["t", "7", "x"], "done=yes", ("done", "must be true or false")),
        (["t", "7", "x"], "done=1", ("done", "must be true or false")),
        (["t", "7", "x"], "done=True", ("done", "must be true or false")),
        (["t", "7", "x"], "done", ("done", "must be true or false")),
        (["t", "7", "x"], "ratio=fast", ("ratio", "must be a number")),
        (["t", "7", "x"], "limit=1&limit=2", ("limit", "is given more than once")),
        (["t", "7", "x"], "sortBy=id&sort_by=id", ("sort_by", "is given more than once")),
        (["t", "7", "x"], "id=8", ("id", "is not a query parameter of this route")),
        (["t", "7", "x"], "limit=5&unknown=1", ("unknown", "is not a query parameter of this route")),
        (["t", "7", "x"], "a.b=1", ("a.b", "is not a query parameter of this route")),
        (["t", "7", "x"], "%6Cimit=x", ("limit", INT32)),  # an escaped name is the same name
    ],
)
def test_loose_path_and_query_values_name_the_parameter(params, segments, query, expected) -> None:
    assert params_problem(params, segments, query) == expected


def test_the_generated_routes_know_their_path_variables_and_query_parameters(gateway) -> None:
    g = gateway.globals()
    task = g.json_route("GET", "/tasks/7")[0]
    assert (task.p[2].n, task.p[2].k) == ("id", "int32")
    assert list(task.q.keys()) == []  # ?id= would override the path
    listing = g.json_route("GET", "/tasks?limit=5")[0]
    assert (listing.q["limit"].k, listing.q["completed"].k, listing.q["tags"].r) == ("int32", "bool", True)
    assert listing.q["sortBy"].n == listing.q["sort_by"].n == "sort_by"
    comment = g.json_route("POST", "/tasks/7/comments")[0]
    assert comment.b.pv["task_id"] and comment.b.pv["taskId"] and list(comment.q.keys()) == []
    upload = g.json_route("POST", "/tasks/7/files")[0]
    assert upload.b is False and upload.q["filename"].k == "string"
    prefs = g.json_route("PATCH", "/notifications/preferences")[0]
    assert prefs.b.closed == "is not a preference that can be set"
    create = g.json_route("POST", "/tasks")[0]
    fields = g.JSON_SHAPES.messages["taskmanager.tasks.v1.CreateTaskRequest"]
    assert fields["title"].nn and not fields["description"].nn and not fields["tags"].nn
    assert list(create.q.keys()) == []


def test_a_route_without_a_body_has_its_query_checked_without_reading_a_body(gateway) -> None:
    refused, calls = request(gateway, {":method": "GET", ":path": "/tasks?completed=yes"}, None)
    assert refused is True and calls.read == 0
    assert json.loads(calls.body)["message"] == "completed: must be true or false"
    refused, calls = request(gateway, {":method": "GET", ":path": "/tasks/07"}, None)
    assert refused is True and json.loads(calls.body)["message"].startswith("id: must be an integer")
    refused, calls = request(gateway, {":method": "GET", ":path": "/tasks?completed=true&limit=5"}, None)
    assert refused is False and calls.read == 0
