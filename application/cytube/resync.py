"""Fresh snapshots whenever the log may have missed something CyTube did.

The robot's events travel on core NATS, which keeps nothing: what happens while webqueue starts,
while its connection is down, or while the robot restarts is gone. So a snapshot is read at start,
after every gap (a reconnect, the robot's lifecycle saying it joined again) and whenever an
observation only makes sense if something was missed (a uid we do not hold, a count that
differs). One read per channel at a time; asking while one runs asks for exactly one more after
it; a read that fails (the robot answers nothing while it starts) is tried again, more slowly
each time, until one answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from attrs import define, frozen

from application.clock import Clock
from application.cytube.observing import Observer
from application.cytube.port import Cytube, CytubeUnavailable
from application.tasks import cancel_and_wait
from domain.queue.commands import ObservePlaylist

log = logging.getLogger(__name__)


@frozen
class ResyncConfig:
    retry_sec: float = 1.0
    retry_max_sec: float = 30.0
    #: After a robot (re)joins: its join burst, itself a snapshot, comes first.
    settle_sec: float = 2.0


@define
class ResyncStats:
    requested: int = 0
    read: int = 0
    failed: int = 0
    last_reason: str | None = None
    last_read_at: datetime | None = None
    last_error: str | None = None


class Resync:
    def __init__(
        self,
        cytube: Cytube,
        observer: Observer,
        clock: Clock,
        *,
        config: ResyncConfig | None = None,
    ) -> None:
        self._cytube = cytube
        self._observer = observer
        self._clock = clock
        self.config = config or ResyncConfig()
        self._wanted: dict[str, asyncio.Event] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._delay: dict[str, float] = {}
        self.stats = ResyncStats()

    def request(self, channel: str, reason: str, *, delay: float = 0.0) -> None:
        """Ask for a snapshot of `channel` (soon, or after `delay` real seconds)."""
        self.stats.requested += 1
        self.stats.last_reason = reason
        log.info("fresh snapshot of %s wanted: %s", channel, reason)
        self._delay[channel] = max(self._delay.get(channel, 0.0), delay)
        wanted = self._wanted.setdefault(channel, asyncio.Event())
        wanted.set()
        worker = self._workers.get(channel)
        if worker is None or worker.done():
            self._workers[channel] = asyncio.create_task(
                self._work(channel, wanted), name=f"resync:{channel}"
            )

    def request_all(self, channels: Sequence[str], reason: str, *, delay: float = 0.0) -> None:
        for channel in channels:
            self.request(channel, reason, delay=delay)

    async def hook(self, channel: str) -> None:
        """The observer's desync hook."""
        self.request(channel, "desync")

    async def idle(self) -> None:
        """Until no read is wanted or running (for tests)."""
        while any(not w.done() for w in self._workers.values()):
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def close(self) -> None:
        await cancel_and_wait(list(self._workers.values()))
        self._workers.clear()

    async def _work(self, channel: str, wanted: asyncio.Event) -> None:
        attempt = 0
        while wanted.is_set():
            delay = self._delay.pop(channel, 0.0)
            if delay > 0:
                await asyncio.sleep(delay)
            wanted.clear()
            try:
                await self.once(channel)
            except CytubeUnavailable as exc:
                self.stats.failed += 1
                self.stats.last_error = str(exc)
                wait = min(self.config.retry_sec * 2**attempt, self.config.retry_max_sec)
                attempt += 1
                log.warning("snapshot of %s failed (%s); again in %.1f s", channel, exc, wait)
                wanted.set()
                await asyncio.sleep(wait)
                continue
            except Exception:
                # A bug of ours must not leave the shadow unhealed for good: try again later.
                self.stats.failed += 1
                log.exception("snapshot of %s failed unexpectedly", channel)
                wanted.set()
                await asyncio.sleep(self.config.retry_max_sec)
                continue
            attempt = 0

    async def once(self, channel: str) -> None:
        """Read one snapshot and hand it to the observer (who records what it changes)."""
        read = await self._cytube.read(channel)
        self.stats.read += 1
        self.stats.last_read_at = self._clock.now()
        self.stats.last_error = None
        snapshot = ObservePlaylist(
            read.items, read.current_uid, source="robot", empty_confirmed=read.empty_confirmed
        )
        await self._observer.observe(channel, snapshot)
