"""The event consumer's handler: translate only (adapters/events.py), then the event's use case in
a unit of work that joins the consumer's transaction, the one that records the event as
processed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_notify.adapters.events import news_of, registration_of
from tm_notify.service import events
from tm_notify.service.unit_of_work import NotifyUnitOfWork

Conn = TypeVar("Conn")  # the consumer's connection, in its transaction


def event_handler(
    join: Callable[[Conn], NotifyUnitOfWork],
) -> Callable[[Conn, EventEnvelope], Awaitable[None]]:
    """The handler for tm_common.consumer; `join` makes a unit of work inside the consumer's
    transaction (SqlNotifyUnitOfWork.joining)."""

    async def handle(conn: Conn, event: EventEnvelope) -> None:
        user = registration_of(event)
        if user is not None:
            await events.user_registered(join(conn), user)
            return
        news = news_of(event)
        if news is not None:
            await events.task_news(join(conn), news)

    return handle
