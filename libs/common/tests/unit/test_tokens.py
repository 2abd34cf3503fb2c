import asyncio
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from tm_common.errors import Unauthenticated, Unavailable
from tm_common.tokens import TokenVerifier, bearer_token

ISSUER, AUDIENCE = "issuer", "audience"


def jwk_of(private_key, kid: str, alg: str) -> dict:
    algorithm = OKPAlgorithm if alg == "EdDSA" else RSAAlgorithm
    jwk = json.loads(algorithm.to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def make_token(private_key, kid: str, alg: str = "EdDSA", **overrides) -> str:
    now = int(time.time())
    claims = {"sub": "7", "username": "ann", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, private_key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def ed_key():
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def fetches():
    return []


@pytest.fixture
def verifier(ed_key, fetches):
    async def fetch():
        fetches.append(1)
        return [jwk_of(ed_key, "k1", "EdDSA")]

    return TokenVerifier(fetch, issuer=ISSUER, audience=AUDIENCE)


async def test_valid_token_gives_principal(verifier, ed_key) -> None:
    principal = await verifier.verify(make_token(ed_key, "k1"))
    assert (principal.user_id, principal.username) == (7, "ann")


async def test_verified_tokens_are_cached(verifier, ed_key, fetches) -> None:
    token = make_token(ed_key, "k1")
    assert await verifier.verify(token) is await verifier.verify(token)
    assert len(fetches) == 1


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"aud": "someone-else"}, "invalid"),
        ({"iss": "someone-else"}, "invalid"),
        ({"sub": "not-a-number"}, "invalid"),
        ({"exp": None}, "invalid"),
    ],
)
async def test_bad_claims_are_rejected(verifier, ed_key, overrides, message) -> None:
    with pytest.raises(Unauthenticated, match=message):
        await verifier.verify(make_token(ed_key, "k1", **overrides))


async def test_wrong_key_is_rejected(verifier) -> None:
    stranger = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.verify(make_token(stranger, "k1"))


async def test_unknown_kid_refetches_once_then_rejects(verifier, ed_key, fetches) -> None:
    await verifier.verify(make_token(ed_key, "k1"))
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(make_token(ed_key, "k2"))
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(make_token(ed_key, "k3"))
    assert len(fetches) == 1  # a flood of unknown kids does not hammer the auth service


async def test_alg_none_is_rejected(verifier) -> None:
    token = jwt.encode({"sub": "7"}, None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier.verify(token)


async def test_hs256_with_public_key_as_secret_is_rejected(verifier) -> None:
    token = jwt.encode(
        {"sub": "7"}, "a-public-key-used-as-an-hmac-secret!", algorithm="HS256", headers={"kid": "k1"}
    )
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier.verify(token)


async def test_algorithm_must_match_the_key(ed_key) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def fetch():
        return [jwk_of(ed_key, "k1", "EdDSA"), jwk_of(rsa_key, "r1", "RS256")]

    verifier = TokenVerifier(fetch, issuer=ISSUER, audience=AUDIENCE)
    assert (await verifier.verify(make_token(rsa_key, "r1", alg="RS256"))).user_id == 7
    with pytest.raises(Unauthenticated):
        await verifier.verify(make_token(rsa_key, "k1", alg="RS256"))


async def test_garbled_token_is_rejected(verifier) -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        await verifier.verify("not.a.token")


async def test_unreachable_jwks_is_unavailable(ed_key) -> None:
    async def fetch():
        raise ConnectionError("auth is down")

    verifier = TokenVerifier(fetch, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(Unavailable):
        await verifier.verify(make_token(ed_key, "k1"))


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_bearer_token_requires_the_bearer_scheme(header) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(header)


def test_bearer_token_is_case_insensitive_on_scheme() -> None:
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


# -- key rotation: the JWKS is fetched again every refresh_seconds ------------------------------
class RotatingJwks:
    """A JWKS source whose keys the test changes, and that can fail."""

    def __init__(self, *jwks: dict) -> None:
        self.jwks = list(jwks)
        self.fetches = 0
        self.down = False

    async def __call__(self) -> list[dict]:
        self.fetches += 1
        if self.down:
            raise ConnectionError("auth is down")
        return self.jwks


REFRESH = 0.2


def rotating_verifier(source: RotatingJwks) -> TokenVerifier:
    return TokenVerifier(source, issuer=ISSUER, audience=AUDIENCE, refresh_seconds=REFRESH)


async def test_a_withdrawn_key_stops_being_trusted_after_the_refresh_interval(ed_key) -> None:
    newer = ed25519.Ed25519PrivateKey.generate()
    source = RotatingJwks(jwk_of(ed_key, "k1", "EdDSA"), jwk_of(newer, "k2", "EdDSA"))
    verifier = rotating_verifier(source)
    old_token = make_token(ed_key, "k1")
    assert (await verifier.verify(old_token)).user_id == 7  # now in the verified-token cache
    source.jwks = [jwk_of(newer, "k2", "EdDSA")]  # auth withdrew k1
    assert (await verifier.verify(old_token)).user_id == 7  # within the interval: no fetch
    assert source.fetches == 1
    await asyncio.sleep(REFRESH)
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(old_token)  # the cached verification is forgotten too
    assert (await verifier.verify(make_token(newer, "k2"))).user_id == 7
    assert source.fetches == 2


async def test_requests_within_the_interval_do_not_fetch(ed_key) -> None:
    source = RotatingJwks(jwk_of(ed_key, "k1", "EdDSA"))
    verifier = rotating_verifier(source)
    for i in range(20):  # twenty different tokens
        await verifier.verify(make_token(ed_key, "k1", exp=int(time.time()) + 60 + i))
    assert source.fetches == 1


async def test_concurrent_requests_after_the_interval_share_one_fetch(ed_key) -> None:
    source = RotatingJwks(jwk_of(ed_key, "k1", "EdDSA"))
    verifier = rotating_verifier(source)
    token = make_token(ed_key, "k1")
    await verifier.verify(token)
    await asyncio.sleep(REFRESH)
    await asyncio.gather(*(verifier.verify(token) for _ in range(10)))
    assert source.fetches == 2


async def test_a_failed_refresh_keeps_the_keys_it_had(ed_key) -> None:
    source = RotatingJwks(jwk_of(ed_key, "k1", "EdDSA"))
    verifier = rotating_verifier(source)
    await verifier.verify(make_token(ed_key, "k1"))
    source.down = True
    await asyncio.sleep(REFRESH)
    assert (await verifier.verify(make_token(ed_key, "k1", username="bob"))).username == "bob"
    assert source.fetches == 2
