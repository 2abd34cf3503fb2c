"""Accounts and tokens through the gateway as JSON/HTTP, as the original clients use them."""

from __future__ import annotations

import re

import httpx
import pytest

from support.accounts import PASSWORD, register, unique
from support.errors import assert_status_body
from support.tokens import alg_none_token, expired_token, signing_key, tampered_token, wrong_key_token

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_register_answers_201_with_the_user(http) -> None:
    name = unique("ann")
    response = register(http, username=name, email=f"{name}@Example.org")
    assert response.status_code == 201
    user = response.json()
    assert set(user) == {"id", "username", "email", "created_at"}
    assert isinstance(user["id"], int) and user["id"] > 0  # a number, as in the original API
    assert (user["username"], user["email"]) == (name, f"{name}@example.org")
    assert RFC3339.match(user["created_at"])
    assert "x-http-code" not in response.headers


def test_ids_increase_in_creation_order(http) -> None:
    first, second = register(http).json(), register(http).json()
    assert second["id"] > first["id"]


def test_duplicate_username_is_409(http) -> None:
    name = unique("dup")
    assert register(http, username=name).status_code == 201
    body = assert_status_body(register(http, username=name.upper()), 409, 6)
    assert "username" in body["message"]


def test_duplicate_email_is_409(http) -> None:
    name = unique("dupmail")
    assert register(http, username=name, email=f"{name}@example.com").status_code == 201
    body = assert_status_body(register(http, email=f"{name}@EXAMPLE.com"), 409, 6)
    assert "email" in body["message"]


@pytest.mark.parametrize(
    "payload, fields",
    [
        ({"username": "ab", "email": "ok@example.com", "password": "password123"}, {"username"}),
        ({"username": "valid_name", "email": "nope", "password": "password123"}, {"email"}),
        ({"username": "valid_name", "email": "ok@example.com", "password": "short"}, {"password"}),
        ({}, {"username", "email", "password"}),
    ],
)
def test_invalid_registration_is_400_naming_fields(http, payload, fields) -> None:
    body = assert_status_body(http.post("/auth/register", json=payload), 400, 3)
    (bad_request,) = body["details"]
    assert bad_request["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert {v["field"] for v in bad_request["field_violations"]} == fields


def test_malformed_json_is_400(http) -> None:
    response = http.post("/auth/register", content=b"{not json", headers={"content-type": "application/json"})
    assert_status_body(response, 400, 3)


def test_wrongly_typed_field_is_400(http) -> None:
    response = http.post("/auth/register", json={"username": ["x"], "email": "a@b.co", "password": "x" * 9})
    assert_status_body(response, 400, 3)


def test_login_returns_a_bearer_token(http) -> None:
    user = register(http).json()
    response = http.post("/auth/login", json={"username": user["username"], "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].count(".") == 2
    assert body["expires_in"] > 0


def test_login_wrong_password_is_401(http) -> None:
    user = register(http).json()
    response = http.post("/auth/login", json={"username": user["username"], "password": "wrong password"})
    assert_status_body(response, 401, 16)


def test_login_unknown_user_is_401(http) -> None:
    response = http.post("/auth/login", json={"username": unique("ghost"), "password": PASSWORD})
    assert_status_body(response, 401, 16)


def test_authenticated_call_with_the_token(http, account) -> None:
    response = http.get("/auth/me", headers=account.headers)
    assert response.status_code == 200
    assert response.json()["id"] == account.id


def test_missing_token_is_401_at_the_edge(http) -> None:
    assert_status_body(http.get("/auth/me"), 401, 16)


@pytest.mark.parametrize("kind", ["expired", "wrong_key", "alg_none", "garbled", "tampered", "not_bearer"])
def test_bad_tokens_are_401_at_the_edge(http, account, jwt_keys_dir, kind) -> None:
    headers = {
        "expired": f"Bearer {expired_token(jwt_keys_dir)}",
        "wrong_key": f"Bearer {wrong_key_token(jwt_keys_dir)}",
        "alg_none": f"Bearer {alg_none_token(jwt_keys_dir)}",
        "garbled": "Bearer abc.def",
        "tampered": f"Bearer {tampered_token(account.token)}",
        "not_bearer": f"Basic {account.token}",
    }
    response = http.get("/auth/me", headers={"Authorization": headers[kind]})
    assert_status_body(response, 401, 16)


def test_login_rate_limit_is_429_with_retry_after(http) -> None:
    user = register(http).json()
    codes = [
        http.post(
            "/auth/login", json={"username": user["username"], "password": "wrong password"}
        ).status_code
        for _ in range(10)
    ]
    assert codes == [401] * 10
    response = http.post("/auth/login", json={"username": user["username"], "password": PASSWORD})
    body = assert_status_body(response, 429, 8)
    assert 0 < int(response.headers["retry-after"]) <= 900  # LOGIN_LIMIT_USERNAME_WINDOW_SECONDS
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"


def test_a_strangers_failed_logins_do_not_lock_the_owner_out(http) -> None:
    """The owner (127.0.0.1) keeps logging in while a stranger (127.0.0.2) is refused for guessing."""
    user = register(http).json()
    owner = {"username": user["username"], "password": PASSWORD}
    guess = {"username": user["username"], "password": "wrong password"}
    assert http.post("/auth/login", json=owner).status_code == 200
    stranger = httpx.Client(
        base_url=str(http.base_url), timeout=10, transport=httpx.HTTPTransport(local_address="127.0.0.2")
    )
    with stranger:
        guesses = [stranger.post("/auth/login", json=guess) for _ in range(12)]
        refused = stranger.post("/auth/login", json=owner)  # even with the right password
    assert http.post("/auth/login", json=owner).status_code == 200
    assert [r.status_code for r in guesses[:10]] == [401] * 10  # LOGIN_LIMIT_PER_USERNAME_ADDRESS
    assert_status_body(refused, 429, 8)
    assert int(refused.headers["retry-after"]) > 1  # auth's limit, not the edge's 1 s


def test_unknown_route_is_404_json(http, account) -> None:
    assert_status_body(http.get("/no/such/thing", headers=account.headers), 404, 5)


def test_unknown_query_parameter_is_400(http, account) -> None:
    assert_status_body(http.get("/auth/me?surprise=1", headers=account.headers), 400, 3)


def test_jwks_is_public_and_lists_the_signing_key(http, jwt_keys_dir) -> None:
    response = http.get("/auth/jwks")
    assert response.status_code == 200
    kid, _ = signing_key(jwt_keys_dir)
    assert kid in {key["kid"] for key in response.json()["keys"]}
