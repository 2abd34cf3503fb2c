"""Use case of the event consumer: recording a batch of events."""

from __future__ import annotations

from collections.abc import Sequence

from tm_activity.domain.access import access_change, access_update
from tm_activity.domain.entries import entry_of
from tm_activity.domain.events import Event
from tm_activity.service.unit_of_work import ActivityUnitOfWork


async def record(uow: ActivityUnitOfWork, events: Sequence[Event]) -> None:
    """New events in stream order, each once (the consumer drops repeats): who may read each
    timeline, and an entry per audited event, a few statements for the whole batch."""
    async with uow:
        await uow.access.apply(access_update([c for event in events if (c := access_change(event))]))
        await uow.entries.add_many([e for event in events if (e := entry_of(event))])
        await uow.commit()
