"""Clocks for the `Clock` port: wall time in production, virtual time for the simulator.

A virtual clock lets a 60 s grace window or a 20 min promo cadence play out in a second, either
by running faster than real time (`speed`) or by jumping (`advance`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from attrs import frozen


class WallClock:
    """The real world's time; what production runs on."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("VirtualClock needs a timezone-aware start time.")
    return value.astimezone(UTC)


def _check_speed(speed: float) -> float:
    if not speed > 0:
        raise ValueError(f"VirtualClock speed must be more than 0, got {speed}.")
    return float(speed)


@frozen
class ClockState:
    """A virtual clock's whole state, so another process on this host can run the same time:
    `anchor_real` is a `time.monotonic()` reading, one clock for every process of the host."""

    start: datetime
    anchor_virtual: float
    anchor_real: float
    speed: float
    changes: int  # how many times it was set: a state older than one held is not taken


class VirtualClock:
    """Time that runs `speed` times faster than real time and can be jumped forward.

    Virtual time is kept as seconds past `start`, anchored to a real monotonic reading, so
    changing speed or advancing only moves the anchor and `now()` never jumps backwards.
    Sleepers wait on the current `_changed` event; advancing or changing speed sets it (and
    installs a fresh one) so every sleeper recomputes its remaining real wait.
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start = _aware_utc(start)
        self._speed = _check_speed(speed)
        self._monotonic = monotonic
        self._anchor_real = monotonic()
        self._anchor_virtual = 0.0
        self._changed = asyncio.Event()
        self._changes = 0
        #: Called after every jump or change of speed (a `--workers` front tells its workers).
        self.on_change: list[Callable[[ClockState], None]] = []

    @property
    def speed(self) -> float:
        return self._speed

    def _elapsed(self) -> float:
        """Virtual seconds since `start`."""
        return self._anchor_virtual + (self._monotonic() - self._anchor_real) * self._speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed())

    def _rebase(self, extra: float = 0.0) -> None:
        self._anchor_virtual = self._elapsed() + extra
        self._anchor_real = self._monotonic()

    def _notify(self) -> None:
        self._changes += 1
        self._wake_and_tell()

    def _wake_and_tell(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        state = self.state()
        for listener in self.on_change:
            listener(state)

    def state(self) -> ClockState:
        return ClockState(
            self._start, self._anchor_virtual, self._anchor_real, self._speed, self._changes
        )

    def adopt(self, state: ClockState) -> bool:
        """Run on another clock's state (one this process follows); False for an older one."""
        if state.changes < self._changes:
            return False
        self._start = _aware_utc(state.start)
        self._anchor_virtual = state.anchor_virtual
        self._anchor_real = state.anchor_real
        self._speed = _check_speed(state.speed)
        self._changes = state.changes
        self._wake_and_tell()
        return True

    def advance(self, seconds: float) -> None:
        """Jump forward at once; sleepers whose deadline has passed wake up."""
        if seconds < 0:
            raise ValueError("A clock cannot advance backwards.")
        self._rebase(seconds)
        self._notify()

    def set_speed(self, speed: float) -> None:
        """Change the rate from now on; `now()` stays continuous."""
        speed = _check_speed(speed)
        self._rebase()
        self._speed = speed
        self._notify()

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of virtual time, waking early when the clock is advanced past it."""
        deadline = self._elapsed() + seconds
        while (remaining := deadline - self._elapsed()) > 0:
            changed = self._changed
            try:
                async with asyncio.timeout(remaining / self._speed):
                    await changed.wait()
            except TimeoutError:
                pass
        await asyncio.sleep(0)
