"""The gateway's response rules (gateway/lua/http_status.lua) against a fake Envoy stream handle.

The end-to-end suites exercise them through Envoy too; this pins the cases no landed endpoint
reaches yet (204 bodies, `x-response-body` unwrapping)."""

from __future__ import annotations

import lupa.luajit21 as luajit
import pytest

from tm_devstack.gateway import lua_source

FAKE_HANDLE = """
function make_handle(header_table, body_text)
  local headers = {}
  function headers:get(name) return header_table[name] end
  function headers:replace(name, value) header_table[name] = value end
  function headers:add(name, value) header_table[name] = value end
  function headers:remove(name) header_table[name] = nil end
  local body = {text = body_text}
  function body:getBytes(from, n) return string.sub(self.text, from + 1, from + n) end
  function body:setBytes(text) self.text = text; header_table["content-length"] = tostring(#text) end
  function body:length() return #self.text end
  local handle = {}
  function handle:headers() return headers end
  function handle:body() return body end
  return handle, body
end
"""


def respond(headers: dict[str, str], body: str) -> tuple[dict[str, str], str]:
    runtime = luajit.LuaRuntime()
    runtime.execute(lua_source())
    runtime.execute(FAKE_HANDLE)
    table = runtime.table_from(headers)
    handle, body_object = runtime.globals().make_handle(table, body)
    runtime.globals().envoy_on_response(handle)
    return dict(table), body_object.text


def test_created_status_comes_from_the_service_hint() -> None:
    headers, body = respond(
        {":status": "200", "content-type": "application/json", "x-http-code": "201"}, "{}"
    )
    assert headers[":status"] == "201" and "x-http-code" not in headers
    assert body == "{}"


def test_no_content_has_no_body() -> None:
    headers, body = respond(
        {":status": "200", "content-type": "application/json", "x-http-code": "204", "content-length": "2"},
        "{}",
    )
    assert headers[":status"] == "204"
    assert body == ""
    assert "content-length" not in headers and "content-type" not in headers


def test_response_body_member_becomes_the_whole_body() -> None:
    headers, body = respond(
        {":status": "200", "content-type": "application/json", "x-response-body": "tasks"},
        '{"tasks":[{"id":1,"title":"]}"}],"next_page_token":"abc"}',
    )
    assert body == '[{"id":1,"title":"]}"}]'
    assert headers["content-length"] == str(len(body))
    assert "x-response-body" not in headers


def test_grpc_headers_do_not_leak_to_json_clients() -> None:
    headers, _ = respond(
        {
            ":status": "200",
            "content-type": "application/json",
            "grpc-status": "0",
            "grpc-message": "",
            "grpc-accept-encoding": "gzip",
        },
        "{}",
    )
    assert not {"grpc-status", "grpc-message", "grpc-accept-encoding"} & set(headers)


@pytest.mark.parametrize("hint", ["x-http-code", "x-response-body"])
def test_native_grpc_responses_pass_untouched(hint: str) -> None:
    original = {
        ":status": "200",
        "content-type": "application/grpc",
        hint: "201" if "code" in hint else "tasks",
    }
    headers, body = respond(dict(original), "\x00\x00\x00\x00\x02ab")
    assert headers == original and body == "\x00\x00\x00\x00\x02ab"


def test_lua_source_is_the_two_files() -> None:
    source = lua_source()
    assert "function extract_member" in source and "function envoy_on_response" in source


@pytest.mark.parametrize(
    "content_type, native",
    [
        ("application/grpc", True),
        ("application/grpc+proto", True),
        ("application/grpc; charset=utf-8", True),
        ("application/grpc-web", False),
        ("application/grpc-web+proto", False),
        ("application/json", False),
        ("", False),
    ],
)
def test_native_grpc_is_told_apart_as_envoy_does(content_type: str, native: bool) -> None:
    runtime = luajit.LuaRuntime()
    runtime.execute(lua_source())
    assert runtime.globals().is_native_grpc(content_type) is native


@pytest.mark.parametrize(
    "name, dropped",
    [
        ("authorization", False),
        ("x-request-id", False),
        ("content-type", False),
        ("x.custom_1", False),
        (":path", False),
        ("grpc-timeout", True),
        ("x-trace-bin", True),  # binary metadata: a JSON client's value need not be base64
        ("ndv%nwlov", True),  # a legal HTTP token, not a legal gRPC metadata key
        ("#r3jd", True),
        ("*", True),
        ("a|b", True),
    ],
)
def test_json_requests_drop_headers_grpc_metadata_cannot_carry(name: str, dropped: bool) -> None:
    runtime = luajit.LuaRuntime()
    runtime.execute(lua_source())
    assert runtime.globals().not_for_grpc(name) is dropped
