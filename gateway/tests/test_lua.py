"""The gateway's Lua, run under LuaJIT (the interpreter Envoy embeds) through lupa."""

from pathlib import Path

import lupa.luajit21 as luajit
import pytest

LUA = Path(__file__).resolve().parents[1] / "lua"


def test_json_member_suite_passes_under_luajit() -> None:
    runtime = luajit.LuaRuntime()
    failures = []
    runtime.globals().os.exit = lambda code=0, *_: failures.append(code)  # keep the test process
    runtime.globals().arg = runtime.table_from({0: str(LUA / "json_member_test.lua")})
    runtime.execute((LUA / "json_member_test.lua").read_text())
    assert failures in ([], [0], [True]), f"json_member_test.lua failed: {failures}"


@pytest.mark.parametrize(
    "body, member, expected",
    [
        (
            '{"tasks":[{"id":1,"title":"a \\"]\\" b"}],"next_page_token":""}',
            "tasks",
            '[{"id":1,"title":"a \\"]\\" b"}]',
        ),
        ('{"entries":[],"next_page_token":"x"}', "entries", "[]"),
        ('{"other":1}', "tasks", None),
    ],
)
def test_extract_member(body: str, member: str, expected: str | None) -> None:
    runtime = luajit.LuaRuntime()
    runtime.execute((LUA / "json_member.lua").read_text())
    assert runtime.globals().extract_member(body, member) == expected
