"""Signing-key rotation without a restart, on the test stack's short clock (KEY_ROTATION_ENV in
conftest.py): auth reads its key directory again every second and publishes a new key at once, but
signs with it only JWT_KEY_ACTIVATION_SECONDS after its file appeared; Envoy and the services fetch
the JWKS again every few seconds, so a removed key stops being trusted within a bound.

The keys added here sort last by name and are removed at the end of each test, which waits until
auth has dropped them: the rest of the suite keeps signing and verifying with the stack's own key.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from support.accounts import Account, new_account, unique
from support.errors import assert_status_body
from support.polling import wait_until
from support.tokens import claims, token
from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from taskmanager.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from tm_auth.adapters.signing import load_key


@dataclass(frozen=True)
class Clock:
    """The stack's rotation timings, in seconds."""

    reload: float  # auth reads its key directory
    activation: float  # a new key signs this long after its file appeared
    refresh: float  # the services fetch the JWKS
    envoy_cache: float  # Envoy fetches the JWKS

    @property
    def bound(self) -> float:
        """How long after a file is added or removed everyone knows it."""
        return self.reload + max(self.refresh, self.envoy_cache)


@pytest.fixture(scope="module")
def clock(stack) -> Clock:
    env = stack.config.service_env
    return Clock(
        reload=float(env["JWT_KEYS_RELOAD_SECONDS"]),
        activation=float(env["JWT_KEY_ACTIVATION_SECONDS"]),
        refresh=float(env["JWKS_REFRESH_SECONDS"]),
        envoy_cache=float(stack.config.jwks_cache_seconds),
    )


@dataclass(frozen=True)
class AddedKey:
    path: Path
    kid: str
    private_key: Any

    def token(self, account: Account, ttl: int = 600) -> str:
        """A token of `account` signed by this key (each one new: a fresh jti)."""
        payload = claims(account.id, account.username, ttl=ttl, jti=uuid.uuid4().hex)
        return token(self.private_key, self.kid, payload)


def published_kids(http: httpx.Client) -> set[str]:
    response = http.get("/auth/jwks")
    assert response.status_code == 200, response.text
    return {key["kid"] for key in response.json()["keys"]}


@contextmanager
def added_key(http: httpx.Client, jwt_keys_dir: Path, clock: Clock) -> Iterator[AddedKey]:
    """A new Ed25519 key file in the stack's key directory (written aside, then moved in, as an
    operator should); removed on exit, once auth no longer publishes, nor signs with, it."""
    private_key = ed25519.Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = jwt_keys_dir / f"zz-rotation-{uuid.uuid4().hex[:8]}.pem"
    staging = path.with_suffix(".tmp")
    staging.touch(mode=0o600)
    staging.write_bytes(pem)
    os.replace(staging, path)
    key = AddedKey(path, load_key(pem).kid, private_key)
    try:
        yield key
    finally:
        path.unlink(missing_ok=True)
        wait_until(lambda: key.kid not in published_kids(http), "auth drops the key", clock.bound + 10)


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def issued_at(token: str) -> int:
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iat"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def tasks_service_answers(stack, token: str) -> grpc.StatusCode:
    """The tasks service's own verdict on `token`, called on its port, not through Envoy."""
    with stack.service_channel("tasks") as channel:
        try:
            tasks_pb2_grpc.TasksServiceStub(channel).ListTasks(
                tasks_pb2.ListTasksRequest(), metadata=metadata(token), timeout=5
            )
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def assert_accepted_everywhere(stack, http, gateway_channel, token: str) -> None:
    """Envoy (JSON and native gRPC) and the services (auth, tasks; directly too) take `token`."""
    assert http.get("/auth/me", headers=bearer(token)).status_code == 200
    assert http.get("/tasks", headers=bearer(token)).status_code == 200
    created = http.post("/tasks", json={"title": unique("rotated")}, headers=bearer(token))
    assert created.status_code == 201, created.text
    auth_pb2_grpc.AuthServiceStub(gateway_channel).GetMe(auth_pb2.GetMeRequest(), metadata=metadata(token))
    tasks_pb2_grpc.TasksServiceStub(gateway_channel).ListTasks(
        tasks_pb2.ListTasksRequest(), metadata=metadata(token)
    )
    assert tasks_service_answers(stack, token) == grpc.StatusCode.OK


def test_a_new_key_is_published_at_once_and_signs_only_after_its_activation_delay(
    stack, http, gateway_channel, jwt_keys_dir, clock
) -> None:
    before = new_account(http)
    old_kid = kid_of(before.token)
    with added_key(http, jwt_keys_dir, clock) as key:
        appeared = key.path.stat().st_ctime
        wait_until(lambda: key.kid in published_kids(http), "the new key published", clock.reload + 5)
        assert published_kids(http) >= {old_kid, key.kid}
        # Log in again and again across the activation: whichever key signed a token, Envoy and the
        # services accept it at once, and the new key signs nothing before its delay is over.
        issued: list[str] = []
        while not issued or kid_of(issued[-1]) != key.kid:
            assert time.time() < appeared + clock.activation + clock.bound + 10, "the new key never signs"
            account = new_account(http)
            issued.append(account.token)
            assert http.get("/auth/me", headers=account.headers).status_code == 200
            time.sleep(0.5)
        assert {kid_of(token) for token in issued} == {old_kid, key.kid}
        for token in issued:
            if kid_of(token) == key.kid:
                assert issued_at(token) >= int(appeared + clock.activation)
        assert_accepted_everywhere(stack, http, gateway_channel, issued[-1])
        # The old key's tokens keep working during the overlap.
        assert_accepted_everywhere(stack, http, gateway_channel, before.token)
    # Removed: auth signs with the stack's own key again.
    assert kid_of(new_account(http).token) == old_kid


ENVOY_UNKNOWN_KEY = "Jwks doesn't have key to match kid or alg from Jwt"
SERVICE_UNKNOWN_KEY = "access token signed by an unknown key"


def test_a_removed_key_stops_being_trusted_by_envoy_and_the_services(
    stack, http, gateway_channel, account, jwt_keys_dir, clock
) -> None:
    with added_key(http, jwt_keys_dir, clock) as key:
        seen = key.token(account)
        # Trusted everywhere within the bound, then verified, and so cached, by Envoy and by the
        # tasks service (through Envoy and directly).
        wait_until(
            lambda: (
                http.get("/auth/me", headers=bearer(seen)).status_code == 200
                and http.get("/tasks", headers=bearer(seen)).status_code == 200
                and tasks_service_answers(stack, seen) == grpc.StatusCode.OK
            ),
            "Envoy and the services trust the added key",
            clock.bound + 5,
        )

        key.path.unlink()
        removed = time.monotonic()
        wait_until(lambda: key.kid not in published_kids(http), "auth unpublishes the key", clock.reload + 5)
        # A token Envoy never saw: refused by Envoy itself once its JWKS cache has expired.
        wait_until(
            lambda: http.get("/auth/me", headers=bearer(key.token(account))).status_code == 401,
            "Envoy refuses the removed key",
            clock.bound + 5,
        )
        refused = http.get("/tasks", headers=bearer(key.token(account)))
        body = assert_status_body(refused, 401, 16)
        assert body["message"] == ENVOY_UNKNOWN_KEY
        with pytest.raises(grpc.RpcError) as error:
            auth_pb2_grpc.AuthServiceStub(gateway_channel).GetMe(
                auth_pb2.GetMeRequest(), metadata=metadata(key.token(account))
            )
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # The token verified before the removal: the service forgets its cached verification.
        wait_until(
            lambda: tasks_service_answers(stack, seen) == grpc.StatusCode.UNAUTHENTICATED,
            "the tasks service refuses the removed key",
            clock.bound + 5,
        )
        # Envoy may pass it still (its verified-token cache keeps a token until it expires,
        # whatever its key), but the service behind refuses it.
        body = assert_status_body(http.get("/tasks", headers=bearer(seen)), 401, 16)
        assert body["message"] in {ENVOY_UNKNOWN_KEY, SERVICE_UNKNOWN_KEY}
        assert time.monotonic() - removed < clock.bound + 5
