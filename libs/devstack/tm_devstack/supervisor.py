"""supervisord configuration and control: it restarts dead processes (with backoff) and stops
them all on shutdown."""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


@dataclass
class Program:
    name: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    autostart: bool = False
    stopsignal: str = "TERM"
    stopwaitsecs: int = 15
    directory: str | None = None


def _quote(value: str) -> str:
    escaped = value.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render(programs: list[Program], run_dir: Path, log_dir: Path) -> str:
    lines = [
        "[unix_http_server]",
        f"file={run_dir / 'supervisor.sock'}",
        "chmod=0700",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={log_dir / 'supervisord.log'}",
        f"pidfile={run_dir / 'supervisord.pid'}",
        "loglevel=info",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{run_dir / 'supervisor.sock'}",
    ]
    for p in programs:
        env = ",".join(f"{k}={_quote(v)}" for k, v in sorted(p.environment.items()))
        lines += [
            f"[program:{p.name}]",
            "command=" + shlex.join(p.command).replace("%", "%%"),
            f"autostart={'true' if p.autostart else 'false'}",
            "autorestart=true",
            "startsecs=1",
            "startretries=20",
            f"stopsignal={p.stopsignal}",
            f"stopwaitsecs={p.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={log_dir / (p.name + '.log')}",
            "stdout_logfile_maxbytes=50MB",
            "stdout_logfile_backups=2",
        ]
        if env:
            lines.append(f"environment={env}")
        if p.user:
            lines.append(f"user={p.user}")
        if p.directory:
            lines.append(f"directory={p.directory}")
    return "\n".join(lines) + "\n"


def ctl(conf: Path, *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "supervisorctl"), "-c", str(conf), *args], capture_output=True, text=True
    )
    if result.returncode not in (0,) and "ERROR" in result.stdout + result.stderr:
        raise RuntimeError(f"supervisorctl {' '.join(args)}: {result.stdout}{result.stderr}")
    return result.stdout
