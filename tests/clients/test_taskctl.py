"""taskctl against the real stack: most commands run in-process through `main(argv)` with a
session directory of their own; one test runs the console script installed in a fresh venv."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from taskmanager_client.cli import config, main
from taskmanager_client.cli.errors import from_rpc
from taskmanager_client.cli.progress import Progress

from support.accounts import PASSWORD, unique
from support.files import MIB, file_bytes
from support.polling import wait_until
from tm_devstack.stack import Stack


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
def gateway(stack: Stack) -> str:
    return f"127.0.0.1:{stack.gateway_port}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config directory of this test's own, and no server from the environment."""
    directory = tmp_path / "taskctl-config"
    monkeypatch.setenv("TASKCTL_CONFIG_DIR", str(directory))
    monkeypatch.delenv("TASKCTL_SERVER", raising=False)
    return directory


class Cli:
    def __init__(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, server: str
    ) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.server = server

    def __call__(self, *argv: str, stdin: str = "", server: str | None = None) -> Result:
        self.capsys.readouterr()
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["--server", server or self.server, *argv])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *argv: str, stdin: str = "") -> Result:
        result = self(*argv, stdin=stdin)
        assert result.code == 0, result
        assert "Traceback" not in result.err
        return result

    def register(self, username: str | None = None) -> str:
        username = username or unique("cli")
        self.ok(
            "register",
            "-u",
            username,
            "--email",
            f"{username}@example.com",
            "--password-stdin",
            stdin=PASSWORD,
        )
        return username

    def become(self, directory: Path) -> None:
        """Later commands use the session saved in `directory` (another user's)."""
        self.monkeypatch.setenv("TASKCTL_CONFIG_DIR", str(directory))

    def login(self, username: str) -> None:
        self.ok("login", "-u", username, "--password-stdin", stdin=PASSWORD + "\n")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, home: Path, gateway: str) -> Cli:
    return Cli(capsys, monkeypatch, gateway)


@pytest.fixture
def user(cli: Cli) -> str:
    """A fresh account, registered and logged in through taskctl."""
    return cli.register()


def saved() -> dict[str, str]:
    data: dict[str, str] = json.loads(config.session_path().read_text())
    return data


def write_session(**changes: str) -> None:
    session = config.Session(**{**saved(), **changes})
    config.save(session)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def failure(result: Result, code: int, *phrases: str) -> None:
    assert result.code == code, result
    assert result.err.startswith("taskctl: "), result
    assert "Traceback" not in result.err
    for phrase in phrases:
        assert phrase in result.err, result


# -- help and usage (no stack) -----------------------------------------------------------------
def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0  success", "3  not logged in", "4  not found", "5  permission denied", "7  server"):
        assert line in out


def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "show", "not-a-number"]) == 2
    assert "invalid int value" in capsys.readouterr().err


# -- sessions --------------------------------------------------------------------------------
def test_register_saves_a_session_readable_by_the_user_alone(cli: Cli, home: Path, gateway: str) -> None:
    username = cli.register()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(config.session_path().stat().st_mode) == 0o600
    session = saved()
    assert (session["server"], session["username"]) == (gateway, username)
    assert session["token"].count(".") == 2
    assert not config.Session(**session).expired()
    assert list(home.iterdir()) == [config.session_path()]  # no temporary file left behind
    assert cli.ok("--json", "whoami").json()["username"] == username  # type: ignore[index]


def test_login_again_replaces_the_token_and_logout_forgets_it(cli: Cli, user: str) -> None:
    os.chmod(config.session_path(), 0o644)
    cli.login(user)
    assert stat.S_IMODE(config.session_path().stat().st_mode) == 0o600
    assert "Logged out." in cli.ok("logout").out
    assert not config.session_path().exists()
    failure(cli("tasks", "ls"), 3, "not logged in", "taskctl login")


def test_the_saved_server_is_used_without_server_option(
    cli: Cli, user: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["tasks", "add", "no --server given"]) == 0
    assert "Created task" in capsys.readouterr().out


def test_a_damaged_session_file_is_reported_and_replaced_by_login(cli: Cli, user: str) -> None:
    config.session_path().write_text("{not json")
    failure(cli("tasks", "ls"), 1, "cannot read", str(config.session_path()), "taskctl login")
    cli.login(user)
    cli.ok("tasks", "ls")
    config.session_path().write_text("[]")
    assert "Logged out." in cli.ok("logout").out


def test_taskctl_server_from_the_environment_wins_over_the_saved_one(
    cli: Cli, user: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("TASKCTL_SERVER", server)
    capsys.readouterr()
    assert main(["--timeout", "3", "tasks", "ls"]) == 7
    assert server in capsys.readouterr().err


def test_a_wrong_password_is_refused_and_saves_nothing(cli: Cli, user: str) -> None:
    cli.ok("logout")
    failure(
        cli("login", "-u", user, "--password-stdin", stdin="wrong password\n"),
        3,
        "wrong username or password",
    )
    assert not config.session_path().exists()


def test_not_logged_in(cli: Cli) -> None:
    failure(cli("tasks", "ls"), 3, "not logged in")


def test_login_without_a_terminal_needs_password_stdin(cli: Cli, user: str) -> None:
    failure(cli("login", "-u", user), 2, "--password-stdin")


def test_an_expired_session_without_a_terminal_says_to_log_in(cli: Cli, user: str) -> None:
    write_session(expires_at="2020-01-01T00:00:00+00:00")
    failure(cli("tasks", "ls"), 3, "session expired, run `taskctl login`")


def test_a_token_the_server_refuses_without_a_terminal_says_to_log_in(cli: Cli, user: str) -> None:
    token = saved()["token"]
    write_session(token=token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    failure(cli("tasks", "ls"), 3, "session expired, run `taskctl login`")


@pytest.mark.parametrize(
    "stale",
    [{"expires_at": "2020-01-01T00:00:00+00:00"}, {"token": "not.a.token"}],
    ids=["expired-by-the-clock", "refused-by-the-server"],
)
def test_a_stale_session_on_a_terminal_asks_the_password_once_and_retries(
    cli: Cli,
    user: str,
    stale: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = saved()["token"]
    write_session(**stale)
    asked: list[str] = []

    def getpass(prompt: str = "") -> str:
        asked.append(prompt)
        return PASSWORD

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setattr(sys, "stdin", Terminal())
    capsys.readouterr()
    assert main(["--server", cli.server, "tasks", "add", "after renewal"]) == 0
    out, err = capsys.readouterr()
    assert "Created task" in out and "expired" in err
    assert asked == ["Password: "]
    session = saved()
    assert session["token"] not in (old, "not.a.token")
    assert not config.Session(**session).expired()
    assert stat.S_IMODE(config.session_path().stat().st_mode) == 0o600


def test_login_and_register_prompt_on_a_terminal(
    cli: Cli, user: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([PASSWORD, PASSWORD, "a different one"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", Terminal(f"{user}\n"))
    capsys.readouterr()
    assert main(["--server", cli.server, "login"]) == 0
    assert f"Logged in as {user}" in capsys.readouterr().out
    newcomer = unique("cli")
    monkeypatch.setattr(sys, "stdin", Terminal(f"{newcomer}\n{newcomer}@example.com\n"))
    assert main(["--server", cli.server, "register"]) == 2
    assert "the passwords differ" in capsys.readouterr().err
    assert saved()["username"] == user


def test_a_wrong_password_on_renewal_fails_cleanly(
    cli: Cli, user: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_session(expires_at="2020-01-01T00:00:00+00:00")
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "not the password")
    monkeypatch.setattr(sys, "stdin", Terminal())
    capsys.readouterr()
    assert main(["--server", cli.server, "tasks", "ls"]) == 3
    assert "wrong username or password" in capsys.readouterr().err


def test_an_unreachable_server_exits_7(cli: Cli, user: str) -> None:
    server = f"127.0.0.1:{closed_port()}"
    failure(cli("--timeout", "3", "tasks", "ls", server=server), 7, "unavailable", server)
    failure(cli("login", "-u", user, "--password-stdin", stdin=PASSWORD, server=server), 7, server)


# -- tasks -----------------------------------------------------------------------------------
def test_tasks_add_ls_show_edit_done_rm(cli: Cli, user: str) -> None:
    created = cli.ok(
        "--json",
        "tasks",
        "add",
        "Write the report",
        "-d",
        "quarterly",
        "-p",
        "high",
        "--due",
        "2031-02-03",
        "--tags",
        "work,q1",
    ).json()
    assert isinstance(created, dict)
    task_id = created["id"]
    other = cli.ok("--json", "tasks", "add", "Buy milk", "-t", "home").json()
    assert isinstance(other, dict)

    table = cli.ok("tasks", "ls").out.splitlines()
    assert table[0].split() == ["ID", "STATUS", "PRIORITY", "DUE", "TITLE", "TAGS"]
    row = next(line for line in table if line.startswith(f"{task_id} "))
    assert row.split() == [str(task_id), "open", "high", "2031-02-03", "Write", "the", "report", "work,q1"]
    assert table[0].index("TITLE") == row.index("Write")  # aligned
    assert "2 of 2 tasks" in table[-1]

    def ids(*filters: str) -> list[int]:
        listed = cli.ok("--json", "tasks", "ls", *filters).json()
        assert isinstance(listed, dict)
        return [task["id"] for task in listed["tasks"]]

    assert ids("--priority", "high") == [task_id]
    assert ids("--tag", "home") == [other["id"]]
    assert ids("--search", "REPORT") == [task_id]
    assert ids("--due-before", "2031-02-03", "--due-after", "2031-02-03") == [task_id]
    assert ids("--sort", "title") == [other["id"], task_id]
    assert ids("--sort", "id", "--desc") == [other["id"], task_id]
    first = cli.ok("--json", "tasks", "ls", "--limit", "1").json()
    assert isinstance(first, dict) and first["total"] == 2 and first["next_page_token"]
    assert ids("--limit", "1", "--page-token", first["next_page_token"]) == [other["id"]]
    assert ids("--limit", "1", "--all") == [task_id, other["id"]]

    shown = cli.ok("tasks", "show", str(task_id)).out
    assert "title:" in shown and "Write the report" in shown and "quarterly" in shown

    assert "Updated task" in cli.ok("tasks", "edit", str(task_id), "--title", "Report v2", "--clear-due").out
    assert "Completed task" in cli.ok("tasks", "done", str(task_id)).out
    detail = cli.ok("--json", "tasks", "show", str(task_id)).json()
    assert isinstance(detail, dict)
    assert (detail["title"], detail["completed"], "due_date" in detail) == ("Report v2", True, False)
    assert ids("--status", "done") == [task_id]
    assert ids("--status", "open") == [other["id"]]

    assert "Deleted task" in cli.ok("tasks", "rm", str(task_id)).out
    failure(cli("tasks", "show", str(task_id)), 4, "not found")
    failure(cli("tasks", "rm", str(task_id)), 4)


def test_invalid_input_is_explained(cli: Cli, user: str) -> None:
    failure(cli("tasks", "add", "   "), 6, "invalid input", "title")
    failure(cli("tasks", "ls", "--due-before", "someday"), 6, "due_before")
    failure(cli("tasks", "ls", "--limit", "500"), 6, "limit")
    failure(cli("tasks", "edit", "1"), 2, "nothing to change")


def test_a_task_that_does_not_exist(cli: Cli, user: str) -> None:
    failure(cli("tasks", "show", "2000000000"), 4, "not found")
    failure(cli("tasks", "done", "2000000000"), 4, "not found")


# -- sharing and comments --------------------------------------------------------------------
def test_share_view_then_edit_then_unshare(cli: Cli, home: Path, tmp_path: Path) -> None:
    owner_home, friend_home = home, tmp_path / "friend"
    cli.become(friend_home)
    friend = cli.register()
    cli.become(owner_home)
    cli.register()
    task = cli.ok("--json", "tasks", "add", "shared work").json()
    assert isinstance(task, dict)
    task_id = str(task["id"])
    share = cli.ok("--json", "share", task_id, friend).json()
    assert isinstance(share, dict) and (share["shared_with_username"], share["permission"]) == (
        friend,
        "view",
    )
    cli.ok("comment", task_id, "owner says hi")

    cli.become(friend_home)
    assert "shared work" in cli.ok("tasks", "show", task_id).out
    shared = cli.ok("shared").out
    assert "shared work" in shared and "view" in shared
    failure(cli("tasks", "edit", task_id, "--title", "mine now"), 5, "permission denied")
    failure(cli("tasks", "rm", task_id), 5, "permission denied")
    failure(cli("share", task_id, friend), 5)
    cli.ok("comment", task_id, "viewers may comment")

    cli.become(owner_home)
    assert "(edit)" in cli.ok("share", task_id, friend, "--permission", "edit").out
    cli.become(friend_home)
    cli.ok("tasks", "edit", task_id, "--title", "edited by a friend")
    comments = cli.ok("--json", "comments", task_id).json()
    assert isinstance(comments, list)
    assert [c["content"] for c in comments] == ["owner says hi", "viewers may comment"]
    assert "owner says hi" in cli.ok("comments", task_id).out
    shown = cli.ok("tasks", "show", task_id).out
    assert "comments (2):" in shown and "viewers may comment" in shown

    cli.become(owner_home)
    assert "no longer shared" in cli.ok("unshare", task_id, friend).out
    failure(cli("unshare", task_id, friend), 4, "not found")
    failure(cli("share", task_id, "nobody-" + unique()), 4, "not found")
    cli.become(friend_home)
    failure(cli("tasks", "show", task_id), 4, "not found")
    assert cli.ok("--json", "shared").json() == []


def test_comment_validation_and_missing_task(cli: Cli, user: str) -> None:
    task = cli.ok("--json", "tasks", "add", "commented").json()
    assert isinstance(task, dict)
    failure(cli("comment", str(task["id"]), "x" * 1001), 6, "invalid input")
    failure(cli("comment", "2000000000", "hello"), 4, "not found")
    assert "(none)" in cli.ok("comments", str(task["id"])).out


# -- files -----------------------------------------------------------------------------------
def test_a_file_round_trip_keeps_every_byte(cli: Cli, user: str, tmp_path: Path) -> None:
    task = cli.ok("--json", "tasks", "add", "with attachment").json()
    assert isinstance(task, dict)
    data = file_bytes(".pdf", 3 * MIB + 4321)
    source = tmp_path / "scan.pdf"
    source.write_bytes(data)
    uploaded = cli.ok("--json", "files", "upload", str(task["id"]), str(source)).json()
    assert isinstance(uploaded, dict)
    assert (uploaded["original_filename"], uploaded["file_size"], uploaded["content_type"]) == (
        "scan.pdf",
        len(data),
        "application/pdf",
    )
    assert cli("files", "upload", str(task["id"]), str(source)).err == ""  # no bar without a terminal
    screen = Terminal()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stderr", screen)
        assert main(["--server", cli.server, "files", "upload", str(task["id"]), str(source)]) == 0
    assert screen.getvalue().startswith("\rupload scan.pdf [")
    assert screen.getvalue().endswith("3.0 MiB / 3.0 MiB 100%\n")
    listing = cli.ok("files", "ls", str(task["id"])).out
    assert "scan.pdf" in listing and "3.0 MiB" in listing

    target = tmp_path / "out" / "copy.pdf"
    target.parent.mkdir()
    assert "Downloaded scan.pdf" in cli.ok("files", "download", str(uploaded["id"]), "-o", str(target)).out
    assert target.read_bytes() == data
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.pdf"]  # no temporary file left
    failure(cli("files", "download", str(uploaded["id"]), "-o", str(target)), 6, "exists", "--force")
    cli.ok("files", "download", str(uploaded["id"]), "-o", str(target.parent), "--force")
    assert (target.parent / "scan.pdf").read_bytes() == data

    assert "Deleted file" in cli.ok("files", "rm", str(uploaded["id"])).out
    failure(cli("files", "download", str(uploaded["id"]), "-o", str(tmp_path / "gone.pdf")), 4, "not found")
    assert not (tmp_path / "gone.pdf").exists()


def test_file_failures(cli: Cli, user: str, tmp_path: Path) -> None:
    task = cli.ok("--json", "tasks", "add", "attachments").json()
    assert isinstance(task, dict)
    failure(cli("files", "upload", str(task["id"]), str(tmp_path / "missing.txt")), 6, "cannot read")
    script = tmp_path / "run.exe"
    script.write_bytes(b"MZ" + bytes(100))
    failure(cli("files", "upload", str(task["id"]), str(script)), 6, "invalid input")
    text = tmp_path / "note.txt"
    text.write_bytes(file_bytes(".txt", 100))
    failure(cli("files", "upload", "2000000000", str(text)), 4, "not found")
    failure(cli("files", "ls", "2000000000"), 4, "not found")


def test_the_progress_bar_shows_bytes_and_percent_on_a_terminal_only() -> None:
    screen = Terminal()
    bar = Progress("upload a.pdf", 4 * MIB, screen)
    bar.advance(MIB)
    bar.finish()
    assert screen.getvalue().startswith("\rupload a.pdf [")
    assert "1.0 MiB / 4.0 MiB" in screen.getvalue() and "25%" in screen.getvalue()
    quiet = io.StringIO()
    silent = Progress("upload a.pdf", 10, quiet)
    silent.advance(10)
    silent.finish()
    assert quiet.getvalue() == ""


# -- activity and preferences ----------------------------------------------------------------
def test_activity_and_a_task_timeline(cli: Cli, user: str) -> None:
    task = cli.ok("--json", "tasks", "add", "audited").json()
    assert isinstance(task, dict)
    cli.ok("tasks", "edit", str(task["id"]), "--priority", "high")

    def timeline() -> list[dict[str, object]]:
        entries = cli.ok("--json", "activity", "--task", str(task["id"])).json()
        assert isinstance(entries, list)
        return entries

    entries = wait_until(timeline, "created and updated in the timeline", accept=lambda e: len(e) >= 2)
    assert [e["action"] for e in entries] == ["created", "updated"]
    table = cli.ok("activity", "--task", str(task["id"])).out
    assert "changed priority" in table and user in table
    mine = cli.ok("--json", "activity", "--type", "task", "--action", "created").json()
    assert isinstance(mine, list) and [e["resource_id"] for e in mine] == [task["id"]]
    failure(cli("activity", "--since", "2030-01-02", "--until", "2030-01-01"), 6, "end_date")
    failure(cli("activity", "--task", "2000000000"), 4, "not found")


def test_preferences_show_and_set(cli: Cli, user: str) -> None:
    shown = cli.ok("prefs").out
    assert "due soon:" in shown and "email verified: no" in shown
    updated = cli.ok("--json", "prefs", "set", "--no-comments", "--due-soon").json()
    assert isinstance(updated, dict)
    assert (updated["comment_on_my_task"], updated["task_due_soon"], updated["email_enabled"]) == (
        False,
        True,
        True,
    )
    assert cli.ok("--json", "prefs").json() == updated
    failure(cli("prefs", "set"), 2, "nothing to change")
    failure(cli("prefs", "verify", "000000"), 6, "invalid input")


# -- the installed console script ------------------------------------------------------------
def test_the_installed_taskctl_from_register_to_tasks_ls(
    client_venv: Path, gateway: str, tmp_path: Path
) -> None:
    taskctl = client_venv / "bin" / "taskctl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKCTL_", "XDG_CONFIG_HOME", "PYTHON"))}
    env["HOME"] = str(tmp_path)

    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(taskctl), *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    username = unique("sh")
    registered = run(
        "--server",
        gateway,
        "register",
        "-u",
        username,
        "--email",
        f"{username}@example.com",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert registered.returncode == 0, registered
    assert run("logout").returncode == 0
    logged_in = run("--server", gateway, "login", "-u", username, "--password-stdin", stdin=PASSWORD + "\n")
    assert logged_in.returncode == 0, logged_in
    session_file = tmp_path / ".config" / "taskctl" / "session.json"
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    assert run("tasks", "add", "x").returncode == 0  # the saved session's server
    listed = run("tasks", "ls")
    assert listed.returncode == 0, listed
    assert [line.split()[4] for line in listed.stdout.splitlines()[1:-1]] == ["x"]
    task_id = listed.stdout.split()[6]
    note = tmp_path / "note.txt"
    note.write_bytes(file_bytes(".txt", 300_000))
    uploaded = run("--json", "files", "upload", task_id, str(note))
    assert uploaded.returncode == 0, uploaded
    file_id = str(json.loads(uploaded.stdout)["id"])
    downloaded = subprocess.run(
        [str(taskctl), "files", "download", file_id, "-o", "-"], capture_output=True, env=env, timeout=60
    )
    assert (downloaded.returncode, downloaded.stdout) == (0, note.read_bytes())
    missing = run("tasks", "show", "2000000000")
    assert (missing.returncode, missing.stderr) == (4, "taskctl: task 2000000000 not found\n"), missing
    assert "Traceback" not in missing.stderr


class _Failure(grpc.RpcError, grpc.Call):
    """A finished call's error as grpc raises it (code, details, trailers), for from_rpc alone."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[()]:
        return ()

    def initial_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: object) -> bool:
        return False


@pytest.mark.parametrize(
    "code, details, message, exit_code",
    [
        # The server answered: its reason is kept, not blamed on the connection.
        (
            grpc.StatusCode.UNAVAILABLE,
            "a service this depends on is unavailable; try again",
            "server unavailable: a service this depends on is unavailable; try again",
            7,
        ),
        (
            grpc.StatusCode.UNAVAILABLE,
            "failed to connect to all addresses; last error: connection refused",
            "server unavailable: cannot reach gw:1",
            7,
        ),
        # A detail that already says what happened is not prefixed with the same words.
        (grpc.StatusCode.NOT_FOUND, "task 9 not found", "task 9 not found", 4),
        (grpc.StatusCode.PERMISSION_DENIED, "owner only", "permission denied: owner only", 5),
    ],
)
def test_rpc_errors_become_one_line_that_says_what_happened(
    code: grpc.StatusCode, details: str, message: str, exit_code: int
) -> None:
    error = from_rpc(_Failure(code, details), "gw:1")
    assert (str(error), error.code) == (message, exit_code)
