"""The event consumer's handler (tm_common.consumer): the task.deleted use case in a unit of work
that joins the consumer's transaction, the one that records the event as processed."""

from __future__ import annotations

from typing import Any

from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_files.service import files
from tm_files.service.unit_of_work import UnitOfWorkFactory


class OnTaskDeleted:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    async def __call__(self, conn: Any, event: EventEnvelope) -> None:
        async with self.uow.joining(conn) as uow:
            await files.on_task_deleted(uow, event)
