"""Notify's integration fixtures: notify schemas of our own in the stack's Postgres, and a local
SNS (moto_server) over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from support.files import MotoServer
from tm_common.db import Database
from tm_common.migrations import upgrade_to_head
from tm_devstack import postgres
from tm_notify.config import NotifySettings
from tm_notify.entrypoints.migrate import MIGRATIONS


class PrivateSchemas:
    """Notify schemas of our own (role, schema, migrations) in the stack's database, dropped at the
    end: what runs here never races the stack's notify service, nor one test's loops another's."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.roles: list[postgres.ServiceRole] = []

    def create(self, **overrides: Any) -> NotifySettings:
        name = f"notify_it_{uuid.uuid4().hex[:8]}"
        role = postgres.ServiceRole(
            schema=name, role=f"{self.stack.database}_{name}", password=postgres.new_password()
        )
        postgres.bootstrap(self.stack.admin_url, self.stack.database, [role])
        self.roles.append(role)
        info = psycopg.conninfo.conninfo_to_dict(self.stack.admin_url)
        host, port = info.get("host", "127.0.0.1"), info.get("port", 5432)
        values: dict[str, Any] = {
            "database_url": f"postgresql+psycopg://{role.role}:{role.password}@{host}:{port}/{self.stack.database}",
            "db_schema": name,
            "redis_url": self.stack.redis_url,
            "auth_address": self.stack.service_address("auth"),
            "notify_code_secret": "integration-test-secret-0123456789",
            "consumer_group": f"{name}-group",
            "consumer_name": f"{name}-consumer",
            "send_poll_seconds": 0.2,
            **overrides,
        }
        settings = NotifySettings(**values)
        upgrade_to_head(MIGRATIONS, settings)
        return settings

    def drop_all(self) -> None:
        info = psycopg.conninfo.conninfo_to_dict(self.stack.admin_url)
        info["dbname"] = self.stack.database
        with psycopg.connect(psycopg.conninfo.make_conninfo(**info), autocommit=True) as conn:
            for role in self.roles:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(role.schema)))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role.role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role.role)))


@pytest.fixture(scope="session")
def private_schemas(stack) -> Iterator[PrivateSchemas]:
    schemas = PrivateSchemas(stack)
    yield schemas
    schemas.drop_all()


def schema_rows(settings: NotifySettings, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """One statement in a private schema, as its role; rows as dicts."""
    from psycopg.rows import dict_row

    url = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    options = f"-c search_path={settings.db_schema}"
    with psycopg.connect(url, autocommit=True, row_factory=dict_row, options=options) as conn:
        cursor = conn.execute(query, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="session")
def loop_schema(private_schemas: PrivateSchemas) -> NotifySettings:
    """A schema no server runs on: tests drive the sender loop and the handler by hand."""
    return private_schemas.create()


@pytest.fixture(scope="session")
async def loop_db(loop_schema: NotifySettings) -> AsyncIterator[Database]:
    db = Database(loop_schema)
    yield db
    await db.close()


@pytest.fixture
def loop_sql(loop_schema: NotifySettings):
    """Run one statement in the loop schema; the queue and the log start empty in every test."""
    schema_rows(loop_schema, "DELETE FROM deliveries")
    schema_rows(loop_schema, "DELETE FROM mail_log")
    return lambda query, params=(): schema_rows(loop_schema, query, params)


class LocalSns:
    """moto_server as a local Amazon SNS, reached over real HTTP; reads its state back through
    /moto-api/data.json."""

    def __init__(self, url: str) -> None:
        self.url = url

    def client(self) -> Any:
        import boto3

        return boto3.client("sns", region_name="us-east-1", endpoint_url=self.url)

    def new_topic(self) -> str:
        return str(self.client().create_topic(Name=f"notify-{uuid.uuid4().hex[:8]}")["TopicArn"])

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.url}/moto-api/data.json", timeout=5).json()["sns"]
        return data

    def published(self, topic_arn: str) -> list[dict[str, Any]]:
        """Messages published to the topic, oldest first: {id, message, subject, attributes:
        {name: (type, value)}}."""
        for topic in self.state()["Topic"]:
            if topic["arn"] == topic_arn:
                return [
                    {
                        "id": message_id,
                        "message": message,
                        "subject": subject,
                        "attributes": {
                            name: (a["Type"], a["Value"]) for name, a in (attributes or {}).items()
                        },
                    }
                    for message_id, message, subject, attributes, _group in topic["sent_notifications"]
                ]
        raise AssertionError(f"moto has no topic {topic_arn}")

    def subscriptions(self, topic_arn: str) -> list[dict[str, Any]]:
        return [s for s in self.state()["Subscription"] if s["topic_arn"] == topic_arn]


@pytest.fixture(scope="session")
def local_sns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSns]:
    """A local SNS for the session (MotoServer also sets dummy AWS credentials in os.environ)."""
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield LocalSns(server.endpoint_url)
    finally:
        server.stop()


@pytest.fixture
def rows_in():
    """rows_in(settings, query, params): one statement in a private schema; rows as dicts."""
    return schema_rows
