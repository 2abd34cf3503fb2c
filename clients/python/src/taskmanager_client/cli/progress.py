"""A progress bar on stderr for transfers, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .output import size

WIDTH = 30
# Redraw at most this often: a 10 MiB transfer in 256 KiB chunks would otherwise flicker.
REDRAW_SECONDS = 0.1


class Progress:
    def __init__(self, label: str, total: int | None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._drawn = 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.enabled and now - self._drawn >= REDRAW_SECONDS:
            self._drawn = now
            self._draw()

    def finish(self) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        if not self.total:
            return f"{self.label}  {size(self.done)}"
        fraction = min(self.done / self.total, 1.0)
        bar = "#" * int(fraction * WIDTH)
        return f"{self.label} [{bar:<{WIDTH}}] {size(self.done)} / {size(self.total)} {fraction:4.0%}"

    def _draw(self) -> None:
        self.stream.write("\r" + self.line())
        self.stream.flush()
