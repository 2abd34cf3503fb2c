"""Debian packages that a test needs, installed on first use when missing (as root, with apt-get).

One install at a time across test processes (a file lock); a package that cannot be installed is
an AptUnavailable error that says what to install, for the test to fail with, never to skip on.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

INSTALL_LOCK = Path(tempfile.gettempdir()) / "tm-apt-install.lock"
INSTALL_TIMEOUT = 900  # seconds: chromium and its libraries are about 100 MB from the mirror

T = TypeVar("T")


class AptUnavailable(RuntimeError):
    """A package is missing and could not be installed."""


@contextmanager
def install_lock() -> Iterator[None]:
    with INSTALL_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    # DPkg::Lock::Timeout: wait for another apt (not ours) rather than fail at once.
    command = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=300", *args]
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT)


def install(packages: tuple[str, ...]) -> None:
    """apt-get install the packages (after an apt-get update if the first try fails)."""
    wanted = " ".join(packages)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise AptUnavailable(
            f"missing Debian packages ({wanted}), and this process cannot install them "
            f"(needs root and apt-get): apt-get install {wanted}"
        )
    command = ("install", "-y", "--no-install-recommends", *packages)
    result = _apt_get(*command)
    if result.returncode != 0:  # most often: no package lists yet
        _apt_get("update")
        result = _apt_get(*command)
    if result.returncode != 0:
        raise AptUnavailable(
            f"apt-get install {wanted} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )


def ensure(packages: tuple[str, ...], find: Callable[[], T | None]) -> T:
    """What `find` finds (paths of the packages' commands), installing the packages first when it
    finds nothing."""
    if (found := find()) is not None:
        return found
    with install_lock():
        if (found := find()) is None:  # another test process may have installed them meanwhile
            install(packages)
            found = find()
    if found is None:
        raise AptUnavailable(f"apt-get installed {' '.join(packages)} but what they provide is not found")
    return found
