"""Accounts through the gateway: register, log in, and the token's headers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


PASSWORD = "correct horse battery"


@dataclass
class Account:
    id: int
    username: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(http: httpx.Client, username: str | None = None, email: str | None = None) -> httpx.Response:
    username = username or unique("user")
    return http.post(
        "/auth/register",
        json={"username": username, "email": email or f"{username}@example.com", "password": PASSWORD},
    )


def new_account(http: httpx.Client) -> Account:
    """Register a fresh user through the gateway and log in."""
    user = register(http).json()
    reply = http.post("/auth/login", json={"username": user["username"], "password": PASSWORD})
    return Account(user["id"], user["username"], user["email"], reply.json()["access_token"])


def bearer_metadata(account: Account) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying `account`'s token."""
    return (("authorization", f"Bearer {account.token}"),)


def new_user(http: httpx.Client) -> Account:
    """Register a fresh user without logging in (one password hash less than new_account): for a
    user who is only named, e.g. shared with, and never calls the API. Its token is empty."""
    response = register(http)
    assert response.status_code == 201, response.text
    user = response.json()
    return Account(user["id"], user["username"], user["email"], "")


def log_in(http: httpx.Client, user: Account) -> Account:
    """`user` with a token of its own (POST /auth/login)."""
    reply = http.post("/auth/login", json={"username": user.username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return Account(user.id, user.username, user.email, reply.json()["access_token"])
