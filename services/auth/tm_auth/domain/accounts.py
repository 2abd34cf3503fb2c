"""Account rules: what a valid registration is. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from tm_common.errors import InvalidArgument
from tm_common.limits import MAX_USERNAME

MIN_PASSWORD, MAX_PASSWORD = 8, 100
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# Pragmatic: one @, no spaces, a dot in the domain. Deliverability is proven by verification later.
EMAIL_RE = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s.\x00]+$")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Registration:
    username: str
    email: str
    password: str


def validate_registration(username: str, email: str, password: str) -> Registration:
    """Check every field at once, so the caller learns all that is wrong in one answer."""
    username = username.strip()
    email = email.strip()
    problems: dict[str, str] = {}
    if not 3 <= len(username) <= MAX_USERNAME:
        problems["username"] = f"must be 3 to {MAX_USERNAME} characters"
    elif not USERNAME_RE.match(username):
        problems["username"] = "may contain only letters, digits, '_', '.' and '-'"
    if len(email) > 100:
        problems["email"] = "must be at most 100 characters"
    elif not EMAIL_RE.match(email):
        problems["email"] = "must be a valid email address"
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        problems["password"] = f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
    elif "\x00" in password:
        problems["password"] = "must not contain NUL characters"
    if problems:
        raise InvalidArgument(_summary(problems), problems)
    return Registration(username=username, email=email.lower(), password=password)


def may_be_credentials(username: str, password: str) -> bool:
    """False for a login no account can match (checked before any lookup or hashing: a 30 MB
    password would otherwise cost a hash of 30 MB)."""
    return len(username.strip()) <= MAX_USERNAME and len(password) <= MAX_PASSWORD and "\x00" not in username


def _summary(problems: dict[str, str]) -> str:
    return "; ".join(f"{field}: {problem}" for field, problem in problems.items())
