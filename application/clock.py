"""Time as the application sees it: a port, so the simulator and tests can drive it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time in production, virtual time in the simulator and in tests."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...
