"""Real parts for the event pipeline tests: a scratch schema in the stack's Postgres (with the
outbox and processed_events tables made by the same migration helpers the services use), and a
private Redis server that a test may stop and start again."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from sqlalchemy import create_engine, make_url, pool, text

from support.accounts import unique
from support.polling import wait_until
from tm_common.config import ServiceSettings
from tm_common.consumer import create_processed_events_table
from tm_common.db import Database
from tm_common.outbox import add_write_marks, create_outbox_table
from tm_devstack.ports import free_port
from tm_devstack.stack import REDIS_SERVER


class RedisServer:
    """A redis-server of our own, durable across stop/start (AOF, fsync per write)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            str(REDIS_SERVER),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
        ]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = SyncRedis.from_url(self.url, socket_connect_timeout=0.2)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except Exception:
                return False

        wait_until(answers, "the private Redis to answer", 10)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, socket_timeout=1.0, socket_connect_timeout=0.5)
    yield client
    await client.aclose()


@dataclass
class Scratch:
    """A schema of its own: the producer's outbox and the consumer's tables side by side."""

    schema: str
    db: Database
    url: str

    async def fetch(self, query: str) -> list[tuple]:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute(f'SET search_path TO "{self.schema}"')
            return await (await conn.execute(query)).fetchall()


@pytest.fixture
async def scratch(stack) -> AsyncIterator[Scratch]:
    schema = unique("events_test").lower()
    url = make_url(stack.admin_url).set(drivername="postgresql+psycopg")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'SET search_path TO "{schema}"'))
        op = Operations(MigrationContext.configure(conn))
        create_outbox_table(op, schema)
        add_write_marks(op, concurrently=False)
        create_processed_events_table(op)
        conn.execute(text("CREATE TABLE effects (event_id uuid PRIMARY KEY, applied integer NOT NULL)"))
    db = Database(ServiceSettings(database_url=url.render_as_string(hide_password=False), db_schema=schema))
    yield Scratch(schema, db, url.set(drivername="postgresql").render_as_string(hide_password=False))
    await db.close()
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
