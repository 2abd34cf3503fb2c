"""Process entry point: `tm-auth` (or `python -m tm_auth.entrypoints.main`)."""

from __future__ import annotations

from tm_auth.bootstrap import build
from tm_auth.config import AuthSettings
from tm_common.logs import configure_logging
from tm_common.server import run, serve


def main() -> None:
    settings = AuthSettings()
    configure_logging(settings.service_name, settings.log_level)
    run(lambda: serve(build(settings), settings))


if __name__ == "__main__":
    main()
