"""How a test suite builds and runs its stack: the settings every suite's stack shares, and the
start and stop around a session (the root conftest's one-replica stack, tests/chaos's two)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

from tm_common.server import start_server
from tm_devstack.stack import Stack, StackConfig

ROOT = Path(__file__).resolve().parents[2]


def suite_stack_config(data_dir: Path, **settings: Any) -> StackConfig:
    """Free ports in data_dir; DATABASE_URL / REDIS_URL's servers when set; `settings` on top."""
    return StackConfig(
        data_dir=data_dir,
        gateway_port=None,
        prefer_default_ports=False,
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        environment="test",
        version=(ROOT / "VERSION").read_text().strip(),
        **settings,
    )


@contextmanager
def running(config: StackConfig) -> Iterator[Stack]:
    stack = Stack(config)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@asynccontextmanager
async def serving_in_process(definition: Any, settings: Any) -> AsyncIterator[str]:
    """A service started in this process (beside the stack's); yields its address."""
    server = await start_server(definition, settings, address="127.0.0.1:0")
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.stop(0)
        for close in definition.on_close:
            with suppress(Exception):
                await close()
