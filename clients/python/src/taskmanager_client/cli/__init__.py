"""taskctl, the command-line client: `main(argv)` parses, runs one command and returns its exit code."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys

import grpc

from . import accounts, activity, collab, files, tasks
from .app import DEFAULT_TIMEOUT, TRANSFER_TIMEOUT, Context
from .errors import ERROR, EXIT_CODES_HELP, USAGE, CliError, from_rpc

DESCRIPTION = """The task manager from the command line, over gRPC through the gateway.
Start with `taskctl register` or `taskctl login`; the session is saved in
$TASKCTL_CONFIG_DIR, else $XDG_CONFIG_HOME/taskctl, else ~/.config/taskctl."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskctl",
        description=DESCRIPTION,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--server",
        metavar="HOST:PORT",
        help="the gateway (default: $TASKCTL_SERVER, else the saved session's server, else localhost:8080)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help=f"deadline of each call (default {DEFAULT_TIMEOUT:g}; {TRANSFER_TIMEOUT:g} for a file transfer)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (accounts, tasks, collab, files, activity):
        module.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else USAGE
    ctx: Context | None = None
    try:
        ctx = Context.from_args(args)
        return ctx.run_authenticated(args.run) if args.needs_auth else int(args.run(ctx))
    except BrokenPipeError:  # e.g. `taskctl tasks ls | head -1`
        _silence_stdout()
        return ERROR
    except CliError as error:
        return _fail(str(error), error.code)
    except grpc.RpcError as error:
        server = ctx.server if ctx else "the server"
        failure = from_rpc(error, server)
        return _fail(str(failure), failure.code)
    except OSError as error:  # a local file or directory, e.g. a full disk while downloading
        where = f" ({error.filename})" if error.filename else ""
        return _fail(f"{error.strerror or error}{where}", ERROR)
    except EOFError:
        return _fail("no input", USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    finally:
        if ctx is not None:
            ctx.close()


def _silence_stdout() -> None:
    """Python would report the broken pipe again when it flushes stdout at exit."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _fail(message: str, code: int) -> int:
    print(f"taskctl: {message}", file=sys.stderr)
    return code
