"""Fixtures of the client package's tests: a fresh virtualenv with `pip install ./clients/python`
done in it, and the end-to-end fixtures (`stack`, `http`, `gateway_channel`, `account`)."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import shutil
import subprocess
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "python"
VENVS = ROOT / "build" / "clients"
SKIPPED = {"build", "__pycache__", ".mypy_cache", ".ruff_cache"}


def _load_e2e_fixtures() -> object:
    # One definition of the gateway fixtures: tests/e2e/conftest.py's, imported under a name of its own.
    spec = importlib.util.spec_from_file_location("e2e_fixtures", ROOT / "tests" / "e2e" / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_e2e = _load_e2e_fixtures()
http = _e2e.http  # type: ignore[attr-defined]
gateway_channel = _e2e.gateway_channel  # type: ignore[attr-defined]
account = _e2e.account  # type: ignore[attr-defined]


def _sources() -> Iterator[Path]:
    """What the wheel is built from: the package (not its build outputs), the protos, VERSION."""
    for path in sorted(PACKAGE.rglob("*")):
        parts = set(path.relative_to(PACKAGE).parts)
        if parts & SKIPPED or any(p.endswith(".egg-info") for p in parts) or "protos" in parts:
            continue  # build outputs, and the protos symlink (hashed below)
        if path.is_file():
            yield path
    yield from sorted((ROOT / "protos" / "taskmanager").rglob("*.proto"))
    yield ROOT / "VERSION"


def source_hash() -> str:
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_venv(target: Path) -> None:
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    result = subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", str(PACKAGE)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(f"pip install ./clients/python failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def client_venv() -> Path:
    """A fresh virtualenv (not the repository's .venv) with the client package pip-installed from
    clients/python, reused while clients/python, protos/ and VERSION are unchanged. The lock keeps
    concurrent sessions from building the same one twice."""
    VENVS.mkdir(parents=True, exist_ok=True)
    target = VENVS / f"venv-{source_hash()}"
    done = target / ".installed"
    with (VENVS / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            build_venv(target)
        done.touch()  # its last use: prune_stale keeps what a session used today
        prune_stale(keep=target)
    return target


def prune_stale(keep: Path, days: float = 1) -> None:
    """Each edit of the package leaves a virtualenv (~50 MB) behind; drop those unused for `days`."""
    for old in VENVS.glob("venv-*"):
        marker = old / ".installed"
        unused = not marker.exists() or time.time() - marker.stat().st_mtime > days * 86400
        if old != keep and unused:
            shutil.rmtree(old, ignore_errors=True)
