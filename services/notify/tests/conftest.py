"""In-memory fakes of the notify service's unit of work, repositories, email provider, rate
limiter, user directory and wake-ups, with the same behaviour as the real ones where the use
cases can tell (tests/adapters holds the SQL side to it against a real Postgres). The `fake`
fixture gives a fresh service to call use cases on."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from support.fakes import FakeUnitOfWork
from taskmanager.events.v1.events_pb2 import EventEnvelope
from tm_common.errors import RateLimited, Unavailable
from tm_common.ratelimit import Limit
from tm_common.users import UserRef
from tm_notify.adapters.delivery_store import REDACTED
from tm_notify.domain.codes import PendingCode
from tm_notify.domain.deliveries import Delivery, NewDelivery, OutgoingMail
from tm_notify.domain.notifications import VERIFICATION
from tm_notify.domain.preferences import Preferences
from tm_notify.domain.sending import RetryPolicy
from tm_notify.domain.users import Contact, User
from tm_notify.entrypoints.consumer import event_handler
from tm_notify.service.deps import CodePolicy, NotifyDeps
from tm_notify.service.sending import DeliveryLoop, SenderSettings

KEY = b"k" * 32


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Clock:
    """The queue's clock, in seconds (what the SQL queue reads from now())."""

    seconds: float = 0.0

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass(frozen=True)
class QueuedEmail:
    """A row of the deliveries table."""

    id: int
    event_id: str
    user_id: int
    kind: str
    email: str
    subject: str
    body: str
    subscription_ref: str | None
    expires_at: datetime | None
    due: float  # next_attempt_at, on the clock
    status: str = "pending"
    attempts: int = 0
    claimed_by: str | None = None
    last_error: str | None = None
    provider_message_id: str | None = None
    sent_at: datetime | None = None

    def delivery(self) -> Delivery:
        return Delivery(
            self.id, self.event_id, self.user_id, self.kind, self.email, self.subject, self.body,
            self.subscription_ref, self.attempts, self.expires_at,
        )  # fmt: skip


TABLES = ("users", "prefs", "codes", "deliveries")


@dataclass
class NotifyState:
    users: dict[int, User] = field(default_factory=dict)
    prefs: dict[int, Preferences] = field(default_factory=dict)
    codes: dict[int, PendingCode] = field(default_factory=dict)
    deliveries: dict[int, QueuedEmail] = field(default_factory=dict)
    outbox: list[EventEnvelope] = field(default_factory=list)  # stays empty: notify publishes nothing
    clock: Clock = field(default_factory=Clock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def copy(self) -> NotifyState:
        return dataclasses.replace(self, **{name: dict(getattr(self, name)) for name in TABLES})

    def replace_with(self, other: NotifyState) -> None:
        for name in TABLES:
            setattr(self, name, getattr(other, name))

    def merge(self, base: NotifyState, work: NotifyState) -> None:
        """Apply the rows a unit of work changed since `base` (what it saw when it opened), and
        only those: units open at the same time (the sender's marks) keep each other's changes,
        as rows do in Postgres."""
        for name in TABLES:
            mine, before, after = getattr(self, name), getattr(base, name), getattr(work, name)
            for key in before.keys() - after.keys():
                mine.pop(key, None)
            mine.update({key: row for key, row in after.items() if before.get(key) != row})


class FakeUserRepository:
    def __init__(self, work: NotifyState) -> None:
        self.work = work

    async def remember(self, user: User) -> None:
        self.work.users[user.user_id] = user

    async def get(self, user_id: int) -> User | None:
        return self.work.users.get(user_id)

    async def create_defaults(self, user_id: int) -> None:
        self.work.prefs.setdefault(user_id, Preferences(user_id))

    async def preferences_of(self, user_id: int) -> Preferences:
        await self.create_defaults(user_id)
        return self.work.prefs[user_id]

    async def change(self, user_id: int, changes: Mapping[str, bool]) -> Preferences:
        prefs = self.work.prefs.get(user_id, Preferences(user_id))
        self.work.prefs[user_id] = dataclasses.replace(prefs, **changes, updated_at=now())
        return self.work.prefs[user_id]

    async def mark_verified(self, user_id: int) -> None:
        await self.change(user_id, {"email_verified": True})

    async def contacts(self, user_ids: Iterable[int]) -> list[Contact]:
        known = sorted(i for i in set(user_ids) if i in self.work.users and i in self.work.prefs)
        users = self.work.users
        return [Contact(i, users[i].username, users[i].email, self.work.prefs[i]) for i in known]


class FakeCodeRepository:
    def __init__(self, work: NotifyState) -> None:
        self.work = work

    async def replace(
        self, user_id: int, digest: bytes, email: str, now: datetime, expires_at: datetime
    ) -> None:
        self.work.codes[user_id] = PendingCode(digest, email, expires_at, attempts=0, used_at=None)

    async def locked(self, user_id: int) -> PendingCode | None:
        return self.work.codes.get(user_id)

    async def count_wrong_guess(self, user_id: int) -> None:
        code = self.work.codes[user_id]
        self.work.codes[user_id] = dataclasses.replace(code, attempts=code.attempts + 1)

    async def mark_used(self, user_id: int, now: datetime) -> None:
        self.work.codes[user_id] = dataclasses.replace(self.work.codes[user_id], used_at=now)


class FakeDeliveryRepository:
    def __init__(self, work: NotifyState) -> None:
        self.work = work

    async def enqueue(self, new: Sequence[NewDelivery]) -> int:
        queued = {(row.event_id, row.user_id) for row in self.work.deliveries.values()}
        added = 0
        for item in new:
            if (str(item.event_id), item.user_id) in queued:
                continue
            row = QueuedEmail(
                next(self.work.ids), str(item.event_id), item.user_id, item.kind, item.email, item.subject,
                item.body, item.subscription_ref, item.expires_at, due=self.work.clock.seconds,
            )  # fmt: skip
            self.work.deliveries[row.id] = row
            queued.add((row.event_id, row.user_id))
            added += 1
        return added

    async def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Delivery]:
        clock = self.work.clock.seconds
        due = sorted(
            (r for r in self.work.deliveries.values() if r.status == "pending" and r.due <= clock),
            key=lambda r: (r.due, r.id),
        )[:limit]
        for row in due:
            leased = dataclasses.replace(row, claimed_by=worker, due=clock + lease_seconds)
            self.work.deliveries[row.id] = leased
        return [self.work.deliveries[row.id].delivery() for row in sorted(due, key=lambda r: r.id)]

    def _mark(self, delivery_id: int, **values: Any) -> None:
        row = self.work.deliveries.get(delivery_id)
        if row is not None and row.status == "pending":
            self.work.deliveries[delivery_id] = dataclasses.replace(row, claimed_by=None, **values)

    def _scrubbed(self, delivery_id: int) -> str:
        row = self.work.deliveries[delivery_id]
        return REDACTED if row.kind == VERIFICATION else row.body

    def _attempts(self, delivery_id: int, counted: int = 1) -> int:
        return self.work.deliveries[delivery_id].attempts + counted

    async def mark_sent(self, delivery_id: int, provider_message_id: str) -> None:
        self._mark(
            delivery_id, status="sent", attempts=self._attempts(delivery_id), sent_at=now(),
            provider_message_id=provider_message_id, body=self._scrubbed(delivery_id),
        )  # fmt: skip

    async def retry_later(self, delivery_id: int, delay_seconds: float, error: str) -> None:
        self._mark(
            delivery_id, attempts=self._attempts(delivery_id), due=self.work.clock.seconds + delay_seconds,
            last_error=error,
        )  # fmt: skip

    async def defer(self, delivery_id: int, delay_seconds: float, reason: str) -> None:
        self._mark(delivery_id, due=self.work.clock.seconds + delay_seconds, last_error=reason)

    async def give_up(self, delivery_id: int, error: str, counts_attempt: bool = True) -> None:
        self._mark(
            delivery_id, status="failed", attempts=self._attempts(delivery_id, int(counts_attempt)),
            last_error=error, body=self._scrubbed(delivery_id),
        )  # fmt: skip

    async def release_leases(self, worker: str) -> int:
        mine = [r for r in self.work.deliveries.values() if r.status == "pending" and r.claimed_by == worker]
        for row in mine:
            released = dataclasses.replace(row, claimed_by=None, due=self.work.clock.seconds)
            self.work.deliveries[row.id] = released
        return len(mine)


class FakeNotifyUnitOfWork(FakeUnitOfWork):
    def bind(self, work: NotifyState) -> None:
        self.base = work.copy()
        self.users = FakeUserRepository(work)
        self.codes = FakeCodeRepository(work)
        self.deliveries = FakeDeliveryRepository(work)

    async def _commit(self, events: Sequence[EventEnvelope]) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        assert not events, "notify publishes no events"
        self.state.merge(self.base, self.work)


class FakeSender:
    """The email provider: answers each send with the next outcome of its script (an exception to
    raise, or a message id prefix), then "ok"."""

    name = "fake"

    def __init__(self) -> None:
        self.script: list[object] = []
        self.sent: list[OutgoingMail] = []
        self.subscribed: list[tuple[int, str]] = []
        self.subscription: str | None = None  # what subscribe answers (SNS: a subscription ARN)
        self.down = False  # subscribe fails as SnsSender does when the provider is unreachable

    async def subscribe(self, user_id: int, email: str) -> str | None:
        if self.down:
            raise Unavailable("the email provider is unavailable; try again")
        self.subscribed.append((user_id, email))
        return self.subscription

    async def send(self, mail: OutgoingMail) -> str:
        await asyncio.sleep(0)  # a real provider yields to the other sends
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        self.sent.append(mail)
        return f"{outcome}-{mail.delivery_id}"


class FakeLimiter:
    """Fixed windows that never end (tests run within one): over max_hits, RateLimited."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, str], int] = {}

    async def hit(self, limit: Limit, key: str) -> None:
        count = self.hits[(limit.name, key)] = self.hits.get((limit.name, key), 0) + 1
        if count > limit.max_hits:
            raise RateLimited("too many attempts", retry_after_seconds=limit.window_seconds)


class FakeDirectory:
    """The auth service's accounts."""

    def __init__(self) -> None:
        self.users: dict[int, UserRef] = {}
        self.asked: list[int] = []

    async def by_id(self, user_id: int) -> UserRef | None:
        self.asked.append(user_id)
        return self.users.get(user_id)


class StopServing(Exception):
    """Raised by the fake wake-ups to end the sender loop's `serve` (FakeWakeups.Stop)."""


class FakeWaiter:
    def __init__(self, wakeups: FakeWakeups) -> None:
        self.wakeups = wakeups

    async def wait(self, seconds: float) -> None:
        self.wakeups.waits.append(seconds)
        if len(self.wakeups.waits) >= self.wakeups.stop_after:
            raise StopServing
        if self.wakeups.meanwhile:
            self.wakeups.meanwhile.pop(0)()


class FakeWakeups:
    """Each wait records its timeout, runs the next of `meanwhile` (what happens while the loop
    waits), and the `stop_after`-th wait raises Stop."""

    Stop = StopServing

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.meanwhile: list[Callable[[], object]] = []
        self.stop_after = 1

    @asynccontextmanager
    async def listening(self) -> AsyncIterator[FakeWaiter]:
        yield FakeWaiter(self)


@dataclass
class FakeNotify:
    """A notify service in memory: its state, its dependencies, and ways to set a scene."""

    state: NotifyState = field(default_factory=NotifyState)

    def __post_init__(self) -> None:
        self.sender = FakeSender()
        self.limiter = FakeLimiter()
        self.directory = FakeDirectory()
        self.wakeups = FakeWakeups()
        self.units: list[FakeNotifyUnitOfWork] = []
        self.policy = CodePolicy(
            key=KEY,
            ttl_seconds=900,
            max_attempts=5,
            verify_limit=Limit("verify", 10, 900),
            subscribe_limit=Limit("subscribe", 5, 3600),
        )
        self.deps = NotifyDeps(
            uow=self.open_unit,
            limiter=self.limiter,
            directory=self.directory,
            sender=self.sender,
            codes=self.policy,
        )
        self.handle = event_handler(self.join)

    def open_unit(self, read_only: bool = False) -> FakeNotifyUnitOfWork:
        unit = FakeNotifyUnitOfWork(self.state, read_only)
        self.units.append(unit)
        return unit

    def join(self, conn: object) -> FakeNotifyUnitOfWork:
        """The unit of work inside the consumer's transaction (`conn` is the consumer's)."""
        return self.open_unit()

    async def consume(self, *events: EventEnvelope) -> None:
        """Hand the events to the consumer's handler, each in a transaction of its own."""
        for event in events:
            await self.handle(object(), event)

    def user(self, user_id: int, verified: bool = True, **switches: bool) -> User:
        """A user notify knows (as if registered), verified unless told, with these switches."""
        user = User(user_id, f"user{user_id}", f"user{user_id}@example.com")
        self.state.users[user_id] = user
        self.state.prefs[user_id] = Preferences(user_id, email_verified=verified, **switches)
        return user

    def account(self, user_id: int) -> UserRef:
        """A user only the auth service knows so far (its user.registered not consumed yet)."""
        ref = UserRef(user_id, f"user{user_id}", f"user{user_id}@example.com")
        self.directory.users[user_id] = ref
        return ref

    def queued(self, **where: Any) -> list[QueuedEmail]:
        """The delivery rows, by id (only those whose fields equal `where`)."""
        rows = sorted(self.state.deliveries.values(), key=lambda r: r.id)
        return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]

    def queue(self, user_id: int = 7, kind: str = "task.shared", **fields: Any) -> QueuedEmail:
        """An email in the queue, due now."""
        values: dict[str, Any] = {"email": f"user{user_id}@example.com", "subject": "subject", "body": "body"}
        values |= {"subscription_ref": None, "expires_at": None} | fields
        row = QueuedEmail(
            next(self.state.ids), f"event-{len(self.state.deliveries)}", user_id, kind,
            due=self.state.clock.seconds, **values,
        )  # fmt: skip
        self.state.deliveries[row.id] = row
        return row

    def loop(self, worker: str = "worker-a", batch_size: int = 50, **retry: Any) -> DeliveryLoop:
        policy = RetryPolicy(**{"max_attempts": 3, "base_seconds": 10.0, "max_seconds": 25.0, **retry})
        settings = SenderSettings(worker=worker, retry=policy, lease_seconds=300, batch_size=batch_size)
        return DeliveryLoop(self.open_unit, self.sender, settings, self.wakeups)


@pytest.fixture
def fake() -> FakeNotify:
    return FakeNotify()
