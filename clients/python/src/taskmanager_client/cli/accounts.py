"""register, login, logout, whoami."""

from __future__ import annotations

import argparse

from taskmanager.auth.v1 import auth_pb2

from . import config
from .app import Context, ask, read_password


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    login_parser = commands.add_parser("login", help="log in and save the session")
    login_parser.add_argument("--username", "-u")
    login_parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login_parser.set_defaults(run=login, needs_auth=False)

    register_parser = commands.add_parser("register", help="create an account, then log in")
    register_parser.add_argument("--username", "-u")
    register_parser.add_argument("--email")
    register_parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    register_parser.set_defaults(run=register, needs_auth=False)

    logout_parser = commands.add_parser("logout", help="forget the saved session")
    logout_parser.set_defaults(run=logout, needs_auth=False)

    whoami_parser = commands.add_parser("whoami", help="the account you are logged in as")
    whoami_parser.set_defaults(run=whoami, needs_auth=True)


def login(ctx: Context) -> int:
    username = ctx.args.username or ask("Username: ")
    password = read_password(ctx.args.password_stdin)
    session = ctx.log_in(username, password)
    return ctx.report(
        {"server": session.server, "username": session.username, "expires_at": session.expires_at},
        f"Logged in as {username} at {ctx.server} (until {session.expires_at}).",
    )


def register(ctx: Context) -> int:
    username = ctx.args.username or ask("Username: ")
    email = ctx.args.email or ask("Email: ")
    password = read_password(ctx.args.password_stdin, confirm=True)
    ctx.client.token = None
    user = ctx.client.auth.Register(
        auth_pb2.RegisterRequest(username=username, email=email, password=password)
    )
    session = ctx.log_in(username, password)
    return ctx.report(
        {"id": user.id, "username": user.username, "email": user.email, "server": session.server},
        f"Registered {user.username} (id {user.id}) and logged in at {ctx.server}.",
    )


def logout(ctx: Context) -> int:
    removed = config.delete()
    if not ctx.json:
        print("Logged out." if removed else "Not logged in.")
    return 0


def whoami(ctx: Context) -> int:
    user = ctx.client.auth.GetMe(auth_pb2.GetMeRequest())
    return ctx.report(user, f"{user.username} (id {user.id}, {user.email}) at {ctx.server}")
