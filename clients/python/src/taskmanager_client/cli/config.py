"""The saved session: {server, username, token, expires_at} in the user's config directory, readable
by the user alone (directory 0700, file 0600, replaced atomically)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .errors import CliError

DEFAULT_SERVER = "localhost:8080"
FILE_NAME = "session.json"
# Treat a token as expired a little early, so it does not lapse between the check and the call.
EXPIRY_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class Session:
    server: str
    username: str
    token: str
    expires_at: str  # ISO 8601, UTC

    @classmethod
    def started(cls, server: str, username: str, token: str, expires_in: int) -> Session:
        expires = datetime.now(UTC) + timedelta(seconds=expires_in)
        return cls(server, username, token, expires.isoformat(timespec="seconds"))

    def expired(self) -> bool:
        try:
            expires = datetime.fromisoformat(self.expires_at)
        except ValueError:
            return True
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return expires - EXPIRY_MARGIN <= datetime.now(UTC)


def config_dir() -> Path:
    if explicit := os.environ.get("TASKCTL_CONFIG_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "taskctl"


def session_path() -> Path:
    return config_dir() / FILE_NAME


def load() -> Session | None:
    path = session_path()
    try:
        data = json.loads(path.read_text())
        return Session(
            str(data["server"]), str(data["username"]), str(data["token"]), str(data["expires_at"])
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CliError(f"cannot read {path} ({error}); run `taskctl logout` then `taskctl login`") from error


def save(session: Session) -> Path:
    directory = config_dir()
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True)
        directory.chmod(0o700)  # a directory of our own; one the user chose is left as it is
    # mkstemp creates the file 0600, so the token is never readable by others, even before the rename.
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".session-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(asdict(session), file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, directory / FILE_NAME)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return directory / FILE_NAME


def delete() -> bool:
    try:
        session_path().unlink()
    except FileNotFoundError:
        return False
    return True
