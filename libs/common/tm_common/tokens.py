"""Access-token verification: asymmetric JWTs whose public keys come from a JWKS.

The verifier is shared by every service. Verified tokens are cached until they expire, because
an EdDSA verification costs about as much as the rest of a simple request. The keys are fetched
again every `refresh_seconds`, checked by the first request after that time (one clock read per
request, no I/O), so a key the issuer withdrew stops being trusted within that bound: the cache
is emptied when a key disappears, and its tokens are verified, and refused, again.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from tm_common.context import Principal
from tm_common.errors import Unauthenticated, Unavailable
from tm_common.singleflight import SingleFlight

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("EdDSA", "RS256")
JwksFetcher = Callable[[], Awaitable[list[dict[str, Any]]]]


class KeySet:
    """Public keys by `kid`, loaded from JWKS dicts."""

    def __init__(self, jwks: list[dict[str, Any]]) -> None:
        self._keys: dict[str, tuple[str, Any]] = {}
        algorithms = get_default_algorithms()
        for jwk in jwks:
            alg = jwk.get("alg", "")
            if alg not in ALLOWED_ALGORITHMS or not jwk.get("kid"):
                continue
            key = algorithms[alg].from_jwk(json.dumps(jwk))
            self._keys[jwk["kid"]] = (alg, key)

    def get(self, kid: str) -> tuple[str, Any] | None:
        return self._keys.get(kid)

    def kids(self) -> set[str]:
        return set(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class TokenVerifier:
    """Verifies bearer tokens against a JWKS source, fetched again every `refresh_seconds` and
    when an unknown `kid` shows up (at most every `min_refetch_seconds`)."""

    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        *,
        issuer: str,
        audience: str,
        cache_size: int = 10_000,
        refresh_seconds: float = 60.0,
        min_refetch_seconds: float = 10.0,
    ) -> None:
        self._fetch_jwks = fetch_jwks
        self._issuer = issuer
        self._audience = audience
        self._keys = KeySet([])
        self._last_fetch = float("-inf")  # time.monotonic() of the last attempt
        self._refresh_at = float("-inf")  # when the keys must be fetched again
        self._refresh = refresh_seconds
        self._min_refetch = min_refetch_seconds
        self._flight = SingleFlight()
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        if time.monotonic() >= self._refresh_at:
            await self._refresh_keys()
        cached = self._cache.get(token)
        if cached is not None and cached.expires_at > time.time():
            self._cache.move_to_end(token)
            return cached
        principal = await self._verify_uncached(token)
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    async def _verify_uncached(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("malformed access token") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS or not isinstance(kid, str):
            raise Unauthenticated("access token has an unacceptable algorithm or no key id")
        entry = self._keys.get(kid) or await self._refetch_for(kid)
        if entry is None or entry[0] != alg:
            raise Unauthenticated("access token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                entry[1],
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
            user_id = int(claims["sub"])
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("access token expired") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthenticated("invalid access token") from exc
        return Principal(
            user_id=user_id,
            username=str(claims.get("username", "")),
            token=token,
            expires_at=float(claims["exp"]),
        )

    async def _refresh_keys(self) -> None:
        """Fetch the keys again; if that fails, keep the ones we have and retry a little later
        (an outage of auth must not refuse every token). Without keys, the failure is the answer."""
        try:
            await self._load()
        except Unavailable:
            if not len(self._keys):
                raise
            self._refresh_at = time.monotonic() + self._min_refetch

    async def _refetch_for(self, kid: str) -> tuple[str, Any] | None:
        if time.monotonic() - self._last_fetch < self._min_refetch and len(self._keys):
            return None
        await self._load()
        return self._keys.get(kid)

    async def _load(self) -> None:
        """One fetch for every request that asks meanwhile."""
        await self._flight.do("jwks", self._fetch)

    async def _fetch(self) -> None:
        self._last_fetch = time.monotonic()
        try:
            keys = KeySet(await self._fetch_jwks())
        except Exception:
            log.exception("could not fetch the JWKS")
            raise Unavailable("cannot verify access tokens right now") from None
        if self._keys.kids() - keys.kids():
            self._cache.clear()  # a withdrawn key: its tokens must be verified (and refused) again
        self._keys = keys
        self._refresh_at = self._last_fetch + self._refresh


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` value."""
    if not authorization:
        raise Unauthenticated("missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization header must be 'Bearer <token>'")
    return token.strip()
