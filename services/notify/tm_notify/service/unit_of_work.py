"""What the use cases of the notify service work through: a unit of work with its repositories,
the email provider, the rate limiter, the auth service's directory, and the wake-ups of the sender
loop. The SQL, Redis and provider versions are in adapters/ (and tm_common); the tests' in-memory
fakes have the same shape."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, Self

from tm_common.ratelimit import Limit
from tm_common.users import UserRef
from tm_notify.domain.codes import PendingCode
from tm_notify.domain.deliveries import Delivery, NewDelivery, OutgoingMail
from tm_notify.domain.preferences import Preferences
from tm_notify.domain.users import Contact, User


class UserRepository(Protocol):
    """Our copy of the accounts, and their preferences."""

    async def remember(self, user: User) -> None: ...
    async def get(self, user_id: int) -> User | None: ...
    async def create_defaults(self, user_id: int) -> None: ...
    async def preferences_of(self, user_id: int) -> Preferences: ...
    async def change(self, user_id: int, changes: Mapping[str, bool]) -> Preferences: ...
    async def mark_verified(self, user_id: int) -> None: ...
    async def contacts(self, user_ids: Iterable[int]) -> list[Contact]: ...


class CodeRepository(Protocol):
    """The one live verification code of each user, as its digest."""

    async def replace(
        self, user_id: int, digest: bytes, email: str, now: datetime, expires_at: datetime
    ) -> None: ...
    async def locked(self, user_id: int) -> PendingCode | None: ...
    async def count_wrong_guess(self, user_id: int) -> None: ...
    async def mark_used(self, user_id: int, now: datetime) -> None: ...


class DeliveryRepository(Protocol):
    """The queue of emails: one per (event, recipient), leased to one sender at a time."""

    async def enqueue(self, new: Sequence[NewDelivery]) -> int: ...
    async def claim(self, worker: str, limit: int, lease_seconds: float) -> list[Delivery]: ...
    async def mark_sent(self, delivery_id: int, provider_message_id: str) -> None: ...
    async def retry_later(self, delivery_id: int, delay_seconds: float, error: str) -> None: ...
    async def defer(self, delivery_id: int, delay_seconds: float, reason: str) -> None: ...
    async def give_up(self, delivery_id: int, error: str, counts_attempt: bool = True) -> None: ...
    async def release_leases(self, worker: str) -> int: ...


class NotifyUnitOfWork(Protocol):
    """One transaction. Notify publishes no events (its schema has no outbox)."""

    @property
    def users(self) -> UserRepository: ...
    @property
    def codes(self) -> CodeRepository: ...
    @property
    def deliveries(self) -> DeliveryRepository: ...

    async def commit(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, read_only: bool = False) -> NotifyUnitOfWork: ...


class EmailSender(Protocol):
    """The email provider. `send` answers the provider's message id, or raises: `Deferred`
    (domain.sending) when the provider cannot take the email yet, anything else for a failure."""

    @property
    def name(self) -> str: ...

    async def subscribe(self, user_id: int, email: str) -> str | None:
        """Make the address reachable for this user's emails; a reference to wait on, or None."""
        ...

    async def send(self, mail: OutgoingMail) -> str: ...


class Limiter(Protocol):
    """Counts hits per key; over the limit, raises RateLimited (tm_common.ratelimit)."""

    async def hit(self, limit: Limit, key: str) -> None: ...


class Directory(Protocol):
    """The auth service's accounts, for a user whose user.registered has not been consumed yet."""

    async def by_id(self, user_id: int) -> UserRef | None: ...


class Waiter(Protocol):
    async def wait(self, seconds: float) -> None:
        """Until new emails are queued, or `seconds` pass."""
        ...


class Wakeups(Protocol):
    """What wakes the sender loop when emails are queued."""

    def listening(self) -> AbstractAsyncContextManager[Waiter]: ...
