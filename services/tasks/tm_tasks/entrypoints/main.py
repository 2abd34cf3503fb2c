"""Process entry point: `tm-tasks` (or `python -m tm_tasks.entrypoints.main`)."""

from __future__ import annotations

from tm_common.server import service_main
from tm_tasks.bootstrap import build
from tm_tasks.config import TasksSettings


def main() -> None:
    service_main(TasksSettings(), build)


if __name__ == "__main__":
    main()
