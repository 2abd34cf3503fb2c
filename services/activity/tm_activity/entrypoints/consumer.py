"""The event consumer's batch handler (tm_common.consumer): translate only, then record the
batch in the consumer's own transaction, which commits it with the events' processed ids."""

from __future__ import annotations

from typing import Any

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_activity.adapters.event_translation import events_of
from tm_activity.service import recording
from tm_activity.service.unit_of_work import UnitOfWorkFactory


class RecordEvents:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    async def __call__(self, conn: Any, events: list[EventEnvelope]) -> None:
        await recording.record(self.uow.joining(conn), events_of(events))
