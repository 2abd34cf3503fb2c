"""Events on Redis Streams (taskmanager.events.v1), read as a consumer would."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from support.accounts import Account, unique
from support.polling import wait_until

TASK_EVENTS_STREAM = "events:tasks"
AUTH_EVENTS_STREAM = "events:auth"


EVENT_TIMEOUT = 15.0  # seconds an event may take from the outbox to its stream


@dataclass
class StreamEvent:
    """One stream entry: its id, its `event_id` and `type` fields and the decoded payload."""

    entry_id: bytes
    event_id: str
    type: str
    envelope: Any  # taskmanager.events.v1.events_pb2.EventEnvelope


class StreamReader:
    """Every entry of one stream, decoded once: each read continues after the last entry seen
    (XRANGE from an exclusive start), so polling a stream of thousands of entries stays cheap."""

    _readers: dict[tuple[str, str], StreamReader] = {}

    def __init__(self, redis_url: str, stream: str) -> None:
        from redis import Redis

        self.stream = stream
        self._redis = Redis.from_url(redis_url, socket_timeout=5)
        self._last = b"-"
        self.entries: list[StreamEvent] = []

    @classmethod
    def of(cls, redis_url: str, stream: str) -> StreamReader:
        """The reader of this stream, shared by the whole test session."""
        key = (redis_url, stream)
        if key not in cls._readers:
            cls._readers[key] = cls(redis_url, stream)
        return cls._readers[key]

    def read(self) -> list[StreamEvent]:
        """All entries so far, oldest first (reads what arrived since the last call)."""
        from taskmanager.events.v1.events_pb2 import EventEnvelope

        while True:
            start = self._last if self._last == b"-" else b"(" + self._last
            batch: Any = self._redis.xrange(self.stream, min=start, max="+", count=1000)
            for entry_id, fields in batch:
                self.entries.append(
                    StreamEvent(
                        entry_id=entry_id,
                        event_id=fields[b"event_id"].decode(),
                        type=fields[b"type"].decode(),
                        envelope=EventEnvelope.FromString(fields[b"payload"]),
                    )
                )
                self._last = entry_id
            if len(batch) < 1000:
                return self.entries


def stream_events(
    redis_url: str,
    stream: str,
    match: Callable[[Any], bool],
    until: Callable[[list[Any]], bool] | None = None,
    timeout: float = EVENT_TIMEOUT,
) -> list[Any]:
    """The EventEnvelopes of `stream` for which `match` holds, oldest first. With `until`, polls
    (up to `timeout` seconds) until `until(those envelopes)` holds, and fails if it never does."""
    reader = StreamReader.of(redis_url, stream)

    def matching() -> list[Any]:
        return [entry.envelope for entry in reader.read() if match(entry.envelope)]

    if until is None:
        return matching()
    return wait_until(matching, f"{stream}: the awaited event", timeout, accept=until)


def task_events(
    redis_url: str,
    task_id: int,
    until: Callable[[list[Any]], bool] | None = None,
    timeout: float = EVENT_TIMEOUT,
) -> list[Any]:
    """The events of `events:tasks` about task `task_id`, oldest first (see stream_events)."""
    return stream_events(
        redis_url,
        TASK_EVENTS_STREAM,
        lambda event: event.HasField("task_id") and event.task_id == task_id,
        until,
        timeout,
    )


def user_events(
    redis_url: str,
    user_id: int,
    until: Callable[[list[Any]], bool] | None = None,
    timeout: float = EVENT_TIMEOUT,
) -> list[Any]:
    """The user.registered events of `events:auth` for user `user_id`, oldest first."""
    return stream_events(
        redis_url,
        AUTH_EVENTS_STREAM,
        lambda event: event.type == "user.registered" and event.user_registered.user_id == user_id,
        until,
        timeout,
    )


def events_before_marker(http: httpx.Client, redis_url: str, account: Account, task_id: int) -> list[Any]:
    """Every event of task `task_id` so far, settled without sleeping: adds a unique tag to the task
    as `account` (who must be able to edit it), waits for that task.tags_added (a task's events are
    published in order, so every earlier one is then in the stream), checks that it is the task's
    last event and the only one of its kind, and returns the events before it."""
    marker = unique("marker")
    response = http.post(f"/tasks/{task_id}/tags", json=[marker], headers=account.headers)
    assert response.status_code == 200, response.text

    def is_marker(event: Any) -> bool:
        return event.type == "task.tags_added" and list(event.tags_added.added) == [marker]

    events = task_events(redis_url, task_id, until=lambda events: any(map(is_marker, events)))
    assert [is_marker(event) for event in events].count(True) == 1, events
    assert is_marker(events[-1]), [event.type for event in events]
    return events[:-1]


def event_types(events: Iterable[Any]) -> list[str]:
    return [event.type for event in events]


def event_of_type(redis_url: str, task_id: int, event_type: str, nth: int = 1) -> Any:
    """The nth event of this type about the task (waits for it)."""

    def of_type(events: list[Any]) -> list[Any]:
        return [event for event in events if event.type == event_type]

    events = task_events(redis_url, task_id, until=lambda events: len(of_type(events)) >= nth)
    return of_type(events)[nth - 1]


def payload_of(event_type: str) -> Any:
    """An empty payload message of an event type, for tests that make events by their type."""
    from taskmanager.events.v1.events_pb2 import EventEnvelope
    from tm_common.events import EVENT_TYPES

    field = next(name for name, kind in EVENT_TYPES.items() if kind == event_type)
    return type(getattr(EventEnvelope(), field))()
