"""Process entry point: `tm-activity` (or `python -m tm_activity.entrypoints.main`)."""

from __future__ import annotations

from tm_activity.bootstrap import build
from tm_activity.config import ActivitySettings
from tm_common.server import service_main


def main() -> None:
    service_main(ActivitySettings(), build)


if __name__ == "__main__":
    main()
