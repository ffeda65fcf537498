"""Background work that outlives any error.

A process manager, a projection runner or the simulator's playback loop that stops on an error
nobody foresaw used to stay stopped until a restart, with /health still saying ok. Each runs
under a `Supervised` instead: when its coroutine ends, with an error or without, it is logged
and started again after a pause that grows (and shrinks back once it has run a while), and its
`health()` says so meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from application.health import PartHealth

log = logging.getLogger(__name__)

FIRST_PAUSE_SEC = 0.5
MAX_PAUSE_SEC = 30.0
SETTLED_SEC = 60.0  # ran this long since its last restart: healthy again, pauses start over


class Supervised:
    def __init__(
        self,
        name: str,
        work: Callable[[], Coroutine[Any, Any, Any]],
        *,
        first_pause: float = FIRST_PAUSE_SEC,
        max_pause: float = MAX_PAUSE_SEC,
        settled: float = SETTLED_SEC,
    ) -> None:
        self.name = name
        self._work = work
        self._first, self._max, self._settled = first_pause, max_pause, settled
        self.restarts = 0
        self.last_error: str | None = None
        self._restarted_at: float | None = None
        self._waiting = False

    async def run(self) -> None:
        pause = self._first
        while True:
            started = time.monotonic()
            try:
                await self._work()
                self.last_error = "it returned (it should run until stopped)"
                log.error("background task %s returned; starting it again", self.name)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("background task %s stopped; starting it again", self.name)
            if time.monotonic() - started > self._settled:
                pause = self._first
            self._waiting = True
            try:
                await asyncio.sleep(pause)
            finally:
                self._waiting = False
            pause = min(pause * 2, self._max)
            self.restarts += 1
            self._restarted_at = time.monotonic()

    def health(self) -> PartHealth:
        if self._waiting:
            return PartHealth("down", f"stopped ({self.last_error}); starting again shortly")
        recent = self._restarted_at is not None and (
            time.monotonic() - self._restarted_at < self._settled
        )
        if recent:
            return PartHealth(
                "degraded", f"restarted {self.restarts} times; last: {self.last_error}"
            )
        return PartHealth("ok")
