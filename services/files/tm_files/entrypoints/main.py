"""Process entry point: `tm-files` (or `python -m tm_files.entrypoints.main`)."""

from __future__ import annotations

from tm_common.server import service_main
from tm_files.bootstrap import build
from tm_files.config import FilesSettings


def main() -> None:
    service_main(FilesSettings(), build)


if __name__ == "__main__":
    main()
