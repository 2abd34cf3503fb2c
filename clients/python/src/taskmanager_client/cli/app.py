"""One invocation: which server, which saved session, the client, and the expired-session rule
(re-ask the password once on a terminal, otherwise say how to log in again)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from ..client import Client
from . import config
from .config import Session
from .errors import AUTH, USAGE, CliError
from .output import print_json

Handler = Callable[["Context"], int]

EXPIRED = "session expired, run `taskctl login`"
DEFAULT_TIMEOUT = 10.0
# A whole upload or download is one call: 10 MiB must not need a fast link.
TRANSFER_TIMEOUT = 300.0


@dataclass
class Context:
    args: argparse.Namespace
    server: str
    timeout: float
    json: bool
    session: Session | None
    _client: Client | None = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        try:
            session = config.load()
        except CliError:
            if args.needs_auth:
                raise
            session = None  # login, register and logout replace or remove a damaged file
        server = args.server or os.environ.get("TASKCTL_SERVER") or (session and session.server)
        timeout = args.timeout or DEFAULT_TIMEOUT
        return cls(args, server or config.DEFAULT_SERVER, timeout, args.json, session)

    @property
    def transfer_timeout(self) -> float:
        return float(self.args.timeout or TRANSFER_TIMEOUT)

    @property
    def client(self) -> Client:
        if self._client is None:
            token = self.session.token if self.session else None
            self._client = Client(self.server, token=token, timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def report(self, value: Any, sentence: str) -> int:
        """A command's outcome: `value` as JSON with --json, else the sentence; exit code 0."""
        if self.json:
            print_json(value)
        else:
            print(sentence)
        return 0

    def log_in(self, username: str, password: str) -> Session:
        # An old token must not ride along: the gateway refuses a bad token even where none is needed.
        self.client.token = None
        try:
            reply = self.client.login(username, password)
        except grpc.RpcError as error:
            if isinstance(error, grpc.Call) and error.code() is grpc.StatusCode.UNAUTHENTICATED:
                raise CliError("wrong username or password", AUTH) from error
            raise
        self.session = Session.started(self.server, username, reply.access_token, reply.expires_in)
        config.save(self.session)
        return self.session

    def run_authenticated(self, handler: Handler) -> int:
        """Runs `handler` with the saved token, renewing an expired session once where a person can."""
        if self.session is None:
            raise CliError("not logged in, run `taskctl login` (or `taskctl register`)", AUTH)
        if self.session.expired():
            self.renew()
        try:
            return handler(self)
        except grpc.RpcError as error:
            if not (isinstance(error, grpc.Call) and error.code() is grpc.StatusCode.UNAUTHENTICATED):
                raise
        self.renew()
        return handler(self)

    def renew(self) -> None:
        assert self.session is not None
        if not interactive():
            raise CliError(EXPIRED, AUTH)
        print(f"Session of {self.session.username} at {self.server} expired.", file=sys.stderr)
        self.log_in(self.session.username, getpass.getpass("Password: "))


def interactive() -> bool:
    return sys.stdin.isatty()


def read_password(from_stdin: bool, prompt: str = "Password: ", confirm: bool = False) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not interactive():
        raise CliError("no terminal to ask for the password; pipe it with --password-stdin", USAGE)
    password = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat password: ") != password:
        raise CliError("the passwords differ", USAGE)
    return password


def ask(prompt: str) -> str:
    if not interactive():
        raise CliError(f"no terminal to ask for {prompt.rstrip(': ').lower()}; pass it as an option", USAGE)
    return input(prompt).strip()
