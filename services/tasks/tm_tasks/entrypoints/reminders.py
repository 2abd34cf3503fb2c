"""The due-soon scheduler: a background loop of the tasks service that sends each task's reminder
when its due date comes near (service/reminders.py). Every instance runs one; they share the work
without sending anything twice (rows are taken FOR UPDATE SKIP LOCKED and marked in the
transaction that writes the event), and the outbox relay publishes what they write."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tm_common.loops import every
from tm_tasks.service.reminders import RemindersUnitOfWorkFactory, send_due_soon_reminders

log = logging.getLogger(__name__)

BATCH_SIZE = 200  # reminders per transaction; a full batch is followed at once by the next


class DueSoonScheduler:
    def __init__(
        self,
        units: RemindersUnitOfWorkFactory,
        window: timedelta,
        scan_seconds: float,
        batch_size: int = BATCH_SIZE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._units = units
        self.window = window
        self.scan_seconds = scan_seconds
        self.batch_size = batch_size
        self._clock = clock

    async def run(self) -> None:
        """Scan until cancelled, surviving database outages (retried with backoff)."""
        await every("due-soon scheduler", self.scan_seconds, self.scan)

    async def scan(self) -> int:
        """One scan: every reminder owed now, a batch per transaction; how many were sent."""
        sent = 0
        while True:
            batch = await send_due_soon_reminders(self._units, self._clock(), self.window, self.batch_size)
            sent += batch
            if batch < self.batch_size:
                break
        if sent:
            log.info("due-soon reminders sent", extra={"reminders": sent})
        return sent
