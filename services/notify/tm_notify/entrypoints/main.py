"""Process entry point: `tm-notify` (or `python -m tm_notify.entrypoints.main`)."""

from __future__ import annotations

from tm_common.server import service_main
from tm_notify.bootstrap import build
from tm_notify.config import NotifySettings


def main() -> None:
    service_main(NotifySettings(), build)


if __name__ == "__main__":
    main()
