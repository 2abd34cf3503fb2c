"""Account rules: what a valid registration is. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from tm_common.errors import InvalidArgument

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
    if not 3 <= len(username) <= 50:
        problems["username"] = "must be 3 to 50 characters"
    elif not USERNAME_RE.match(username):
        problems["username"] = "may contain only letters, digits, '_', '.' and '-'"
    if len(email) > 100:
        problems["email"] = "must be at most 100 characters"
    elif not EMAIL_RE.match(email):
        problems["email"] = "must be a valid email address"
    if not 8 <= len(password) <= 100:
        problems["password"] = "must be 8 to 100 characters"
    elif "\x00" in password:
        problems["password"] = "must not contain NUL characters"
    if problems:
        raise InvalidArgument(_summary(problems), problems)
    return Registration(username=username, email=email.lower(), password=password)


def _summary(problems: dict[str, str]) -> str:
    return "; ".join(f"{field}: {problem}" for field, problem in problems.items())
