"""The contract stays compatible with the last released one (tools/contract.sh, run by `make lint`):
a copy of the repository's protos, edited, is checked against protos/released/ offline. No stack."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TASKS_PROTO = Path("protos/taskmanager/tasks/v1/tasks.proto")
TASK_TITLE = "message Task {\n  int32 id = 1;\n  string title = 2;\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The protos, the vendored googleapis, buf.yaml, VERSION and the released snapshots, outside
    git (so only the released contract is compared), with the repository's virtualenv."""
    for tree in ("protos", "third_party"):
        shutil.copytree(ROOT / tree, tmp_path / tree)
    for name in ("buf.yaml", "VERSION"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "contract.sh", tmp_path / "tools" / "contract.sh")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def contract(workspace: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "tools/contract.sh", command], cwd=workspace, capture_output=True, text=True, timeout=120
    )


def edit_task_message(workspace: Path, change: Callable[[str], str]) -> None:
    path = workspace / TASKS_PROTO
    text = path.read_text()
    assert TASK_TITLE in text, "the Task message changed shape: update this test's anchor"
    path.write_text(change(text))


def test_a_release_snapshot_exists_and_none_is_newer_than_version() -> None:
    version = tuple(int(part) for part in (ROOT / "VERSION").read_text().strip().split("."))
    released = sorted((ROOT / "protos" / "released").glob("taskmanager-*.binpb"))
    assert released, "no released contract: tools/contract.sh release"
    for snapshot in released:
        snapshot_version = snapshot.stem.removeprefix("taskmanager-")
        assert tuple(int(part) for part in snapshot_version.split(".")) <= version, snapshot.name


def test_the_contract_as_it_is_passes(workspace: Path) -> None:
    result = contract(workspace, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "released contract protos/released/taskmanager-" in result.stdout


def test_a_renumbered_field_fails(workspace: Path) -> None:
    edit_task_message(workspace, lambda text: text.replace("string title = 2;", "string title = 42;", 1))
    result = contract(workspace, "check")
    assert result.returncode != 0
    assert 'Previously present field "2" with name "title" on message "Task" was deleted' in result.stdout


def test_a_removed_field_fails(workspace: Path) -> None:
    edit_task_message(workspace, lambda text: text.replace("  string title = 2;\n", "", 1))
    result = contract(workspace, "check")
    assert result.returncode != 0
    assert 'field "2" with name "title" on message "Task" was deleted' in result.stdout


def test_an_added_field_passes(workspace: Path) -> None:
    edit_task_message(
        workspace, lambda text: text.replace(TASK_TITLE, TASK_TITLE + "  string added_later = 99;\n", 1)
    )
    result = contract(workspace, "check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_released_contract_is_never_rewritten(workspace: Path) -> None:
    snapshot = next((workspace / "protos" / "released").glob("taskmanager-*.binpb"))
    before = snapshot.read_bytes()
    (workspace / "VERSION").write_text(snapshot.stem.removeprefix("taskmanager-") + "\n")
    result = contract(workspace, "release")
    assert result.returncode == 1
    assert "never rewritten" in result.stderr
    assert snapshot.read_bytes() == before


def test_a_release_writes_the_next_snapshot_that_later_checks_use(workspace: Path) -> None:
    (workspace / "VERSION").write_text("0.99.0\n")
    edit_task_message(
        workspace, lambda text: text.replace(TASK_TITLE, TASK_TITLE + "  string added_later = 99;\n", 1)
    )
    assert contract(workspace, "release").returncode == 0
    assert (workspace / "protos" / "released" / "taskmanager-0.99.0.binpb").is_file()
    # 0.99.0 has the new field, so removing it now breaks the newest release (not 0.1.0's).
    edit_task_message(workspace, lambda text: text.replace("  string added_later = 99;\n", "", 1))
    result = contract(workspace, "check")
    assert result.returncode != 0
    assert "taskmanager-0.99.0.binpb" in result.stdout
    assert "added_later" in result.stdout
