"""The sender loop: takes due emails from the delivery queue and hands them to the provider.

* Claim: up to `batch_size` due rows (FOR UPDATE SKIP LOCKED), leased to this instance for
  `lease_seconds`; several instances share the queue without sending a row twice.
* Send, then mark each row on its own: sent; or tried again after a doubling backoff
  (`last_error` kept); or failed after `max_attempts`. A mail the provider cannot take yet
  (`Deferred`) is asked again later without counting an attempt, until it expires.
* A failing email never blocks the others or the event stream (events only queue rows).
* The one window for a second send: the provider accepted the email and the process died (or the
  database became unreachable) before the row was marked sent. On restart the instance (same
  CONSUMER_NAME) takes back the rows it had claimed and sends them again. The local delivery log
  absorbs that (one row per delivery); SNS would deliver the email twice.
* Wake-up: an insert trigger NOTIFYs on commit; the loop also polls every `poll_seconds`.
* Traces: each send is a span in the trace that queued the email (the request, through the
  event that caused it), with the provider's call under it.
* Metrics (tm_notify.metrics): each send's outcome once it is marked; the queue by state is
  sampled by a loop of its own (adapters.delivery_store.DeliveryQueueSampler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry.trace import SpanKind

from tm_common import tracing
from tm_common.loops import Backoff, run_forever
from tm_notify import metrics
from tm_notify.domain.deliveries import Delivery
from tm_notify.domain.sending import Deferred, RetryPolicy, backoff, expired, gives_up
from tm_notify.service.unit_of_work import EmailSender, UnitOfWorkFactory, Wakeups

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderSettings:
    worker: str  # this instance's name (CONSUMER_NAME: stable across restarts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lease_seconds: float = 60.0
    batch_size: int = 50
    concurrency: int = 8
    poll_seconds: float = 1.0


@dataclass
class SenderCounters:
    sent: int = 0
    retried: int = 0
    deferred: int = 0
    failed: int = 0


class DeliveryLoop:
    def __init__(
        self, uow: UnitOfWorkFactory, sender: EmailSender, settings: SenderSettings, wakeups: Wakeups
    ) -> None:
        self._uow = uow
        self._sender = sender
        self._wakeups = wakeups
        self.settings = settings
        self.counters = SenderCounters()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._backoff = Backoff()

    async def run(self) -> None:
        """Send until cancelled, surviving outages of Postgres and of the provider."""
        log.info(
            "email sender started", extra={"provider": self._sender.name, "worker": self.settings.worker}
        )
        await run_forever("email sender", self.serve, self._backoff)

    async def serve(self) -> None:
        """Take back this worker's leases, then send whatever is due, waking when emails are queued
        (or every poll_seconds), until cancelled or an outage."""
        async with self._wakeups.listening() as waiter:
            await self.release_leases()
            while True:
                while await self.send_due() >= self.settings.batch_size:
                    pass
                self._backoff.reset()
                await waiter.wait(self.settings.poll_seconds)

    async def release_leases(self) -> int:
        async with self._uow() as uow:
            released = await uow.deliveries.release_leases(self.settings.worker)
            await uow.commit()
        if released:
            log.warning("taking back emails claimed before a restart", extra={"count": released})
        return released

    async def send_due(self) -> int:
        """One round: claim what is due and send it; how many were claimed."""
        async with self._uow() as uow:
            claimed = await uow.deliveries.claim(
                self.settings.worker, self.settings.batch_size, self.settings.lease_seconds
            )
            await uow.commit()
        outcomes = await asyncio.gather(*(self._deliver(item) for item in claimed), return_exceptions=True)
        for outcome in outcomes:  # marking failed (the database went away): after every send is done
            if isinstance(outcome, BaseException):
                raise outcome
        return len(claimed)

    async def _deliver(self, item: Delivery) -> None:
        async with self._slots:
            with self._span(item):
                await self._send(item)

    async def _send(self, item: Delivery) -> None:
        try:
            message_id = await self._sender.send(item.mail())
        except asyncio.CancelledError:
            raise
        except Deferred as exc:
            await self._defer(item, str(exc))
        except Exception as exc:
            await self._failed(item, f"{type(exc).__name__}: {exc}"[:500])
        else:
            async with self._uow() as uow:
                await uow.deliveries.mark_sent(item.id, message_id)
                await uow.commit()
            self.counters.sent += 1
            metrics.SENT.inc()

    def _span(self, item: Delivery) -> AbstractContextManager[object]:
        """The span of one send, in the trace that queued the email: the provider's call (SNS) and
        the marking are its children."""
        if not tracing.is_enabled():
            return contextlib.nullcontext()
        return tracing.in_trace_of(
            "notify send",
            item.trace_context,
            SpanKind.CONSUMER,
            {
                "messaging.system": "postgresql",
                "messaging.destination.name": "deliveries",
                "messaging.message.id": str(item.id),
                "tm.email.kind": item.kind,
                "tm.email.attempt": item.attempts + 1,
            },
        )

    async def _defer(self, item: Delivery, reason: str) -> None:
        gone = expired(item.expires_at, datetime.now(UTC))
        async with self._uow() as uow:
            if gone:
                await uow.deliveries.give_up(item.id, f"expired: {reason}", counts_attempt=False)
            else:
                await uow.deliveries.defer(item.id, self.settings.retry.defer_seconds, reason)
            await uow.commit()
        if gone:
            self.counters.failed += 1
            metrics.FAILED.inc()
        else:
            self.counters.deferred += 1

    async def _failed(self, item: Delivery, error: str) -> None:
        attempts = item.attempts + 1
        final = gives_up(self.settings.retry, attempts) or expired(item.expires_at, datetime.now(UTC))
        async with self._uow() as uow:
            if final:
                await uow.deliveries.give_up(item.id, error)
            else:
                await uow.deliveries.retry_later(item.id, backoff(self.settings.retry, attempts), error)
            await uow.commit()
        if final:
            self.counters.failed += 1
            metrics.FAILED.inc()
            log.error(
                "email given up",
                extra={"delivery_id": item.id, "kind": item.kind, "attempts": attempts, "error": error},
            )
        else:
            self.counters.retried += 1
            metrics.RETRIED.inc()
            log.warning(
                "email send failed; will retry",
                extra={"delivery_id": item.id, "kind": item.kind, "attempts": attempts, "error": error},
            )
