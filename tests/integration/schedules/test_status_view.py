"""The viewers' event status from memory: the view follows the log's tail and answers what
the read from the log answers (the next event, the pre-fire lock from its first second, the
event lock after the fire, none after it lifts), without reading the log per render."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from application.log.command_handler import CommandHandler
from application.log.tail import LogTail
from application.playlists.service import PlaylistService
from application.schedules.service import EventStatusOut, ScheduleService
from application.schedules.status_view import ScheduleStatusView
from tests.integration.playlists.test_apply import ADMIN
from tests.integration.schedules.test_firing import ScheduleWorld, ep


class CountingStore:
    """The log, with its stream reads counted."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def read_stream(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await self._inner.read_stream(*args, **kwargs)


@pytest.fixture
async def world(tmp_path: Any) -> Any:
    w = ScheduleWorld(tmp_path)
    await w.read.prepare()
    await w.seed(2)
    yield w
    await w.stop_applier()
    await w.read.close()


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_the_view_answers_as_the_log_does_and_reads_no_log_per_render(
    world: ScheduleWorld,
) -> None:
    counting = CountingStore(world.store)
    handler = CommandHandler(counting, world.clock)  # type: ignore[arg-type]
    service = ScheduleService(
        handler,
        PlaylistService(handler, world.read, world.clock),
        world.clock,
        config=world.schedule_config,
    )
    tail = LogTail(world.store)
    view = ScheduleStatusView(handler, tail, service, channels=["lobby"])
    task = asyncio.create_task(view.run())
    try:
        await asyncio.wait_for(view.caught_up.wait(), 10)
        assert await view.status("lobby") == EventStatusOut(None, None)

        async def same() -> bool:
            return await view.status("lobby") == await world.schedules.status("lobby")

        event = await world.saved(ep(1), ep(2), name="Quiz")
        fire_at = world.clock.now() + timedelta(minutes=30)
        made = await world.schedules.create(
            "lobby", ADMIN, playlist_id=event, label="Quiz", fire_at=fire_at
        )
        firer = world.firer()
        await firer.tick("lobby")  # arms the pre-fire lock ahead, in the queue's log

        async def next_known() -> bool:
            nxt = (await view.status("lobby")).next
            return nxt is not None and nxt.label == "Quiz"

        await until(next_known, "the next event in the view")
        assert (await view.status("lobby")).lock is None  # not yet in the lock window
        # The lock window opens by the clock alone: no log change, the view sees it at once.
        assert made.lock_from is not None
        world.clock.advance((made.lock_from - world.clock.now()).total_seconds() + 0.5)
        status = await view.status("lobby")
        assert status.lock is not None and status.lock["kind"] == "pre_fire"
        assert await same()
        # Renders read the log no more.
        reads = counting.reads
        for _ in range(200):
            await view.status("lobby")
        assert counting.reads == reads
        assert view.from_memory >= 200
        # Fired: the event lock, in the view as in the log.
        world.clock.advance((fire_at - world.clock.now()).total_seconds())

        async def event_lock() -> bool:
            lock = (await view.status("lobby")).lock
            return lock is not None and lock["kind"] == "event"

        await world.tick_until(firer, event_lock)
        await until(same, "the view to agree with the log")
        await world.schedules.lift("lobby", ADMIN)
        await firer.tick("lobby")

        async def no_lock() -> bool:
            return (await view.status("lobby")).lock is None

        await until(no_lock, "the lifted lock to leave the view")
        await until(same, "the view to agree with the log")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await tail.close()
