"""The observer: routes observations, and asks CyTube for a snapshot when the shadow disagrees."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from adapters.sim.channel import SimulatedChannel
from application.cytube.observing import Observer
from application.log.command_handler import CommandHandler
from application.log.streams import presence_stream, queue_stream
from domain.media import Media
from domain.presence.model import ObservedUser, ObserveUserJoined, presence_decider
from domain.queue.commands import ObserveItemMoved, ObserveItemQueued
from domain.queue.decider import queue_decider

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


def observer_on(store: InMemoryEventStore) -> Observer:
    return Observer(CommandHandler(store, VirtualClock(START)))


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_queue_and_presence_observations_land_on_their_own_streams() -> None:
    store = InMemoryEventStore()
    observer = observer_on(store)
    await observer.observe("lobby", ObserveItemQueued(1, Media("yt", "a", "A", 60)))
    await observer.observe("lobby", ObserveUserJoined(ObservedUser("Ann")))
    assert len(await store.read_stream(queue_stream("lobby"))) == 1
    assert len(await store.read_stream(presence_stream("lobby"))) == 1


async def test_a_redelivered_observation_records_once() -> None:
    store = InMemoryEventStore()
    observer = observer_on(store)
    for _ in range(2):
        await observer.observe(
            "lobby", ObserveItemQueued(1, Media("yt", "a")), observation_id="robot-1"
        )
    assert await store.head() == 1


async def test_a_desync_asks_for_one_snapshot_and_records_nothing() -> None:
    store = InMemoryEventStore()
    asked: list[str] = []

    async def resync(channel: str) -> None:
        asked.append(channel)

    observer = Observer(CommandHandler(store, VirtualClock(START)), on_desync=resync)
    await observer.observe("lobby", ObserveItemMoved(7, "prepend"))
    await observer.observe("lobby", ObserveItemMoved(8, "prepend"))
    await settle()
    assert asked == ["lobby"]
    assert observer.rejected == 2
    assert await store.head() == 0


async def test_a_clear_made_directly_in_cytube_is_believed_after_a_fresh_snapshot() -> None:
    """CyTube sends `playlist []` once after a clear; one empty list alone is not trusted, so
    the observer asks again, and the second empty list settles it."""
    store = InMemoryEventStore()
    clock = VirtualClock(START)
    observer = Observer(CommandHandler(store, clock))
    sim = SimulatedChannel("lobby", clock, observer)
    observer.set_desync_hook(lambda _channel: sim.snapshot())
    await sim.add(Media("yt", "a", "A", 60))
    await sim.add(Media("yt", "b", "B", 60))
    await sim.clear()
    await settle()
    events = [e for c in await store.read_stream(queue_stream("lobby")) for e in c.commit.events]
    state = queue_decider.fold("lobby", events)
    assert state.items == ()
    assert state.now_playing is None
    assert presence_decider.fold("lobby", []).users == {}
