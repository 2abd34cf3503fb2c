"""The house rules of the code, checked on every run (README, Architecture):

* nothing in libs/ (or the bench) imports a service, and no service imports another;
* no import loops between our modules (imports made when a module loads);
* SQL (sqlalchemy, psycopg) only in a service's adapters/ (and its migrations);
* no protobuf in any domain/."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("tm_auth", "tm_tasks", "tm_files", "tm_activity", "tm_notify")
SQL = ("sqlalchemy", "psycopg", "psycopg_pool")
PROTOBUF = ("google.protobuf", "taskmanager")  # taskmanager.*: the generated *_pb2 modules


def package_files() -> Iterator[tuple[str, Path]]:
    """(module name, path) of every module of our runtime packages."""
    bases = (
        ROOT / "libs" / "common",
        ROOT / "libs" / "devstack",
        ROOT / "bench",
        *(ROOT / "services").iterdir(),
    )
    for base in bases:
        for path in sorted(base.glob("tm_*/**/*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports(path: Path, load_time_only: bool = False) -> set[str]:
    """The modules `path` imports (with load_time_only: those imported when it loads, not inside
    functions or `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    nodes = _load_time(tree.body) if load_time_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _load_time(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.If | ast.Try):
            yield from _load_time([*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", [])])
        yield node


def top(module: str) -> str:
    return module.split(".")[0]


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_libs_import_no_service_and_services_import_no_other() -> None:
    offenders = []
    for module, path in package_files():
        own = top(module)
        for imported in imports(path):
            if top(imported) in SERVICES and top(imported) != own:
                offenders.append(f"{relative(path)} imports {imported}")
    assert offenders == []


def test_no_import_loops() -> None:
    modules = dict(package_files())
    graph = {
        name: {m for m in imports(path, load_time_only=True) if m in modules and m != name}
        for name, path in modules.items()
    }
    loops: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                loops.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert loops == []


def _breaking(rule_applies: str, forbidden: tuple[str, ...]) -> set[str]:
    return {
        relative(path)
        for module, path in package_files()
        if f".{rule_applies}" in module
        and any(top(m) in forbidden or m.startswith(forbidden) for m in imports(path))
    }


def test_sql_lives_in_adapters_only() -> None:
    found = set()
    for layer in ("domain", "service", "entrypoints"):
        found |= {p for p in _breaking(layer, SQL) if p.startswith("services/")}
    assert found == set()  # use cases go through the unit of work


def test_no_domain_imports_protobuf() -> None:
    assert _breaking("domain", PROTOBUF) == set()
