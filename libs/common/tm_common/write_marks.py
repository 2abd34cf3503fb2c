"""Read-your-writes for reads fed by events (the activity log).

A caller who got a 2xx for a write expects the next read to show it, but the read is answered from
what a consumer has applied, a little later. So before such a read, the consumer asks each
producer where the caller's latest event stands (EventMarksService, hosted by every producer: the
stream entry id the relay gave it, read from the outbox) and waits, up to a bound, until its
consumer group has been delivered every entry up to it and has acknowledged all of them (it
acknowledges after committing their effects). Past the bound the read goes on, marked possibly
stale; it never fails.

Nothing is kept per user: the producer's outbox and the group's state in Redis are the truth, so
this holds with any number of instances of either side. With Redis down (or restarted without
its data), or a producer unreachable, the answer is "possibly stale" at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import grpc
from redis.asyncio import Redis
from redis.exceptions import RedisError

from taskmanager.events.v1 import events_pb2, events_pb2_grpc
from tm_common.clients import service_channel
from tm_common.config import ServiceSettings
from tm_common.context import current_principal
from tm_common.db import Database
from tm_common.http import set_response_header, set_response_trailer

log = logging.getLogger(__name__)

_LATEST = "SELECT id, stream_id FROM outbox WHERE actor_user_id = %s ORDER BY id DESC LIMIT 1"
# A row asked about again; gone only once published and kept past OUTBOX_KEEP_PUBLISHED_HOURS.
_ONE = "SELECT id, stream_id FROM outbox WHERE id = %s AND actor_user_id = %s"
POLL_SECONDS = 0.01


class EventMarksServicer(events_pb2_grpc.EventMarksServiceServicer):
    """A producer's answer: the caller's latest event in its outbox, and where it went."""

    def __init__(self, db: Database, stream: str) -> None:
        self._db = db
        self._stream = stream

    async def GetWriteMark(
        self, request: events_pb2.GetWriteMarkRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.GetWriteMarkResponse:
        user_id = current_principal().user_id
        if request.outbox_id:
            row = await self._db.fetch_one(_ONE, (request.outbox_id, user_id))
        else:
            row = await self._db.fetch_one(_LATEST, (user_id,))
        if row is None:
            return events_pb2.GetWriteMarkResponse(stream=self._stream, has_events=False)
        return events_pb2.GetWriteMarkResponse(
            stream=self._stream, has_events=True, entry_id=row.stream_id or "", outbox_id=row.id
        )


STALE_HEADER = "x-possibly-stale"


@dataclass(frozen=True)
class Settled:
    stale: bool  # True: the caller's latest writes may not show yet
    waited: float  # seconds spent waiting

    def report(self) -> None:
        """Tell the caller: `x-possibly-stale: true` (a header, and a trailer for gRPC clients)
        when stale, and the wait as Server-Timing (`own-writes;dur=<ms>`)."""
        set_response_header("server-timing", f"own-writes;dur={self.waited * 1000:.1f}")
        if self.stale:
            set_response_header(STALE_HEADER, "true")
            set_response_trailer(STALE_HEADER, "true")


def producers_of(settings: ServiceSettings) -> list[str]:
    """The addresses of the services whose streams this consumer reads ("events:<service>")."""
    peers = settings.peers()
    return [peers[stream.partition(":")[2]] for stream in settings.streams]


class OwnWrites:
    """Waits until a consumer group has applied the caller's latest event of each producer."""

    def __init__(self, producers: list[str], redis: Redis, group: str, timeout: float) -> None:
        self._stubs: list[Any] = []
        self._producers = producers  # addresses of the services whose streams the group reads
        self._redis = redis
        self._group = group
        self._timeout = timeout

    def _marks(self) -> list[Any]:
        if not self._stubs:  # made on first use, in the loop that serves requests
            self._stubs = [events_pb2_grpc.EventMarksServiceStub(service_channel(a)) for a in self._producers]
        return self._stubs

    async def settle(self) -> Settled:
        """Wait (at most the timeout) until the current caller's own writes are applied."""
        started = time.monotonic()
        deadline = started + self._timeout
        try:
            done = await asyncio.gather(*(self._applied(stub, deadline) for stub in self._marks()))
            stale = not all(done)
        except (grpc.aio.AioRpcError, RedisError, OSError) as exc:
            log.warning(
                "read-your-writes unknown; answering as possibly stale", extra={"error": str(exc)[:200]}
            )
            stale = True
        waited = time.monotonic() - started
        if stale:
            log.info("read possibly stale", extra={"waited_ms": round(waited * 1000)})
        return Settled(stale=stale, waited=waited)

    async def _applied(self, stub: Any, deadline: float) -> bool:
        """Whether the group applied the caller's latest event of this producer by the deadline."""

        async def ask(outbox_id: int = 0) -> Any:
            timeout = max(deadline - time.monotonic(), 0.05)
            # wait_for_ready: a producer that just restarted is reconnected within the bound,
            # rather than failed at once while the channel backs off.
            request = events_pb2.GetWriteMarkRequest(outbox_id=outbox_id)
            return await stub.GetWriteMark(request, timeout=timeout, wait_for_ready=True)

        mark = await ask()
        while mark.has_events and not mark.entry_id:  # still in the outbox: the relay is on it
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)
            # That same event: the caller's later writes (made meanwhile) are not this read's.
            mark = await ask(mark.outbox_id)
        if not mark.has_events:
            return True
        while not await self._acknowledged(mark.stream, mark.entry_id):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)
        return True

    async def _acknowledged(self, stream: str, entry_id: str) -> bool:
        """Every entry up to `entry_id` delivered to the group, and none of them still pending."""
        groups = await self._redis.xinfo_groups(stream)
        ours = next((g for g in groups if _text(g["name"]) == self._group), None)
        if ours is None or _entry(_text(ours["last-delivered-id"])) < _entry(entry_id):
            return False
        if not ours["pending"]:
            return True
        oldest: Any = await self._redis.xpending_range(stream, self._group, min="-", max=entry_id, count=1)
        return not oldest


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry(entry_id: str) -> tuple[int, int]:
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)
