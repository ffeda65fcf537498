"""A progress bar on a terminal, occasional plain lines when piped: long work is never silent."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self._label = label
        self._out = stream or sys.stderr
        self._tty = self._out.isatty()
        self._interval = interval if self._tty else 5.0
        self._started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        final = done >= total
        if not final and now - self._last < self._interval:
            return
        self._last = now
        elapsed = max(now - self._started, 1e-9)
        rate = done / elapsed
        pct = 100.0 if total == 0 else 100.0 * done / total
        if self._tty:
            width = 30
            filled = int(width * pct / 100)
            bar = "#" * filled + "-" * (width - filled)
            self._out.write(f"\r{self._label} [{bar}] {pct:5.1f}% {done}/{total} ({rate:,.0f}/s)")
            if final:
                self._out.write("\n")
        else:
            self._out.write(f"{self._label}: {done}/{total} ({pct:.1f}%, {rate:,.0f}/s)\n")
        self._out.flush()
