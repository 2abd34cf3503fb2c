"""Process entry point: `tm-auth` (or `python -m tm_auth.entrypoints.main`)."""

from __future__ import annotations

from tm_auth.bootstrap import build
from tm_auth.config import AuthSettings
from tm_common.server import service_main


def main() -> None:
    service_main(AuthSettings(), build)


if __name__ == "__main__":
    main()
