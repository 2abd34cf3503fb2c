"""Login rate limits that slow password guessing without letting a stranger lock the owner out.

Three counters in Redis (429 with Retry-After past any of them):
* per address: every attempt from one client address (one client trying many usernames);
* per (username, address): attempts on one account from one address, forgotten when one of them
  succeeds. A stranger's failures fill their own pair, never the owner's;
* per username: a higher ceiling for attempts from addresses that have not logged in as that user
  recently (guesses spread over many addresses). The owner's known addresses skip it, so the
  ceiling cannot keep the owner out either.

The counters and the known addresses are reached through Protocols (service/unit_of_work.py);
the Redis ones (tm_common.ratelimit, adapters/known_addresses) let every attempt through while
Redis is down.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tm_auth.config import AuthSettings
from tm_auth.service.unit_of_work import KnownAddresses, RateLimiter
from tm_common.ratelimit import Limit


@dataclass(frozen=True)
class LoginLimits:
    settings: AuthSettings
    limiter: RateLimiter
    known: KnownAddresses

    async def admit(self, username: str, address: str) -> None:
        """Count one attempt; raises RateLimited when a limit that applies is spent."""
        pair = _pair(username, address)
        await self.limiter.hit(self._per_address, address)
        await self.limiter.hit(self._per_pair, pair)
        if not await self.known.contains(pair):
            await self.limiter.hit(self._per_username, _digest(_normal(username)))

    async def succeeded(self, username: str, address: str) -> None:
        pair = _pair(username, address)
        await self.limiter.reset(self._per_pair, pair)
        await self.known.remember(pair)

    @property
    def _per_address(self) -> Limit:
        s = self.settings
        return Limit("login-addr", s.login_limit_per_address, s.login_limit_window_seconds)

    @property
    def _per_pair(self) -> Limit:
        s = self.settings
        return Limit(
            "login-user-addr", s.login_limit_per_username_address, s.login_limit_username_window_seconds
        )

    @property
    def _per_username(self) -> Limit:
        s = self.settings
        return Limit("login-user", s.login_limit_per_username, s.login_limit_username_window_seconds)


def _normal(username: str) -> str:
    return username.strip().lower()  # usernames are unique case-insensitively


def _pair(username: str, address: str) -> str:
    return _digest(f"{_normal(username)}\n{address}")


def _digest(value: str) -> str:
    # Hashed so that arbitrary user input never becomes part of a Redis key verbatim.
    return hashlib.sha256(value.encode()).hexdigest()[:32]
