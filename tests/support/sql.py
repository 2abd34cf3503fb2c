"""A service's schema as an operator reads it, with the service's own role."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def service_sql(stack: Any, service: str, query: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Rows of one statement in a service's schema, as its own role (what an operator can do)."""
    import psycopg
    from psycopg.rows import dict_row

    from tm_devstack.services import SERVICES

    spec = next(s for s in SERVICES if s.name == service)
    url = stack.service_database_url(spec, driver="postgresql")
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        cursor = conn.execute(query, tuple(params))
        return cursor.fetchall() if cursor.description else []
