"""Port choice: the preferred port when it is free, otherwise any free loopback port."""

from __future__ import annotations

import socket


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pick(preferred: int | None, taken: set[int]) -> int:
    """`preferred` if given and free; else a fresh free port not in `taken`."""
    if preferred and preferred not in taken and is_free(preferred):
        taken.add(preferred)
        return preferred
    while (port := free_port()) in taken:
        pass
    taken.add(port)
    return port
