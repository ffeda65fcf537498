"""A `--workers` front's simulated channel as its workers reach it: the CyTube port and the
virtual clock served over a real nats-server (adapters.sim.bridge) and called from another
connection (adapters.sim.remote), with the front's fault knobs and its absence."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from nats.aio.client import Client

from adapters.clock import VirtualClock
from adapters.sim.bridge import SimBridge
from adapters.sim.channel import SimulatedChannel
from adapters.sim.cytube import SimCytube
from adapters.sim.remote import FollowedClock, RemoteSimCytube
from application.cytube.observations import Observation
from application.cytube.port import CytubeUnavailable
from domain.media import Media
from domain.presence.model import ObservedUser
from domain.queue.commands import ObserveItemQueued

T0 = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
CH = "lobby"
A = Media("yt", "fakeAAA", "Clip A", 180)
B = Media("yt", "fakeBBB", "Clip B", 240)
GUARD = 5.0  # real seconds before a test fails instead of hanging


class Seen:
    def __init__(self) -> None:
        self.observations: list[Observation] = []

    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        self.observations.append(observation)


class Front:
    def __init__(self, nc: Client, stream: str) -> None:
        self.clock = VirtualClock(T0)
        self.seen = Seen()
        self.sim = SimulatedChannel(CH, self.clock, self.seen)
        self.port = SimCytube({CH: self.sim}, queued_by="webqueue")
        self.bridge = SimBridge(
            nc, stream=stream, channel=CH, port=self.port, simulator=self.sim, clock=self.clock
        )


@pytest.fixture
def stream() -> str:
    return f"SIM{uuid.uuid4().hex[:8].upper()}"  # tests share the session's server


@pytest.fixture
async def connections(nats_url: str) -> AsyncIterator[tuple[Client, Client]]:
    front, worker = await nats.connect(nats_url), await nats.connect(nats_url)
    yield front, worker
    await front.close()
    await worker.close()


@pytest.fixture
async def front(connections: tuple[Client, Client], stream: str) -> AsyncIterator[Front]:
    made = Front(connections[0], stream)
    await made.bridge.start()
    yield made
    await made.bridge.close()


@pytest.fixture
def remote(connections: tuple[Client, Client], stream: str) -> RemoteSimCytube:
    # A loaded CI machine can take a while to answer; only the test of no front wants it short.
    return RemoteSimCytube(connections[1], stream=stream, channel=CH, timeout=GUARD)


async def test_a_workers_add_lands_in_the_fronts_channel_and_is_read_back(
    front: Front, remote: RemoteSimCytube
) -> None:
    added = await remote.add(CH, A, "end", temp=False)
    assert added.ok and added.uid is not None
    await remote.add(CH, B, "next", temp=True)
    assert [i.media for i in front.sim.playlist()] == [A, B]  # B next after A, now playing
    assert any(isinstance(o, ObserveItemQueued) for o in front.seen.observations)

    read = await remote.read(CH)
    assert [i.media for i in read.items] == [i.media for i in front.sim.playlist()]
    assert read.empty_confirmed and read.current_uid == front.sim.current_uid
    assert await remote.playlist(CH) == front.sim.playlist()

    await remote.move(CH, added.uid, "prepend")
    assert front.sim.playlist()[0].uid == added.uid
    await remote.delete(CH, added.uid)
    assert [i.media for i in front.sim.playlist()] == [B]


async def test_users_and_pms_go_through_the_front(front: Front, remote: RemoteSimCytube) -> None:
    await front.sim.join("ann", rank=2)
    assert await remote.user(CH, "ann") == ObservedUser("ann", 2, False)
    assert await remote.user(CH, "nobody") is None
    await remote.pm(CH, "ann", "your code is in the PM")
    assert front.port.sent_pms == [(CH, "ann", "your code is in the PM")]


async def test_the_fronts_fault_knobs_reach_the_worker(
    front: Front, remote: RemoteSimCytube
) -> None:
    front.port.fail_adds(1, transient=False)
    failed = await remote.add(CH, A, "end", temp=False)
    assert not failed.ok and not failed.transient and failed.error
    front.port.unavailable(1)
    with pytest.raises(CytubeUnavailable, match="injected"):
        await remote.read(CH)
    assert (await remote.add(CH, A, "end", temp=False)).ok  # the knobs are spent


async def test_with_no_front_a_call_is_unavailable_not_a_hang(
    connections: tuple[Client, Client], stream: str
) -> None:
    remote = RemoteSimCytube(connections[1], stream=stream, channel=CH, timeout=0.5)
    with pytest.raises(CytubeUnavailable, match="no answer"):
        await asyncio.wait_for(remote.add(CH, A, "end", temp=False), GUARD)


async def test_a_worker_runs_the_fronts_time_and_follows_its_jumps(
    front: Front, connections: tuple[Client, Client], stream: str
) -> None:
    followed = FollowedClock(connections[1], stream=stream, channel=CH)
    clock = await asyncio.wait_for(followed.start(), GUARD)
    try:
        assert abs((clock.now() - front.clock.now()).total_seconds()) < 0.5
        sleeper = asyncio.create_task(clock.sleep(3600))  # a grace window, say
        await asyncio.sleep(0.05)
        front.clock.advance(7200)  # the demo panel's "move the clock"
        await asyncio.wait_for(sleeper, GUARD)
        assert abs((clock.now() - front.clock.now()).total_seconds()) < 0.5
        front.clock.set_speed(60)
        for _ in range(100):
            if clock.speed == 60:
                break
            await asyncio.sleep(0.02)
        assert clock.speed == 60
    finally:
        await followed.close()


async def test_a_worker_started_before_its_front_answers_waits_for_it(
    connections: tuple[Client, Client], stream: str
) -> None:
    followed = FollowedClock(connections[1], stream=stream, channel=CH)
    starting = asyncio.create_task(followed.start(wait=0.2))
    await asyncio.sleep(0.5)
    late = Front(connections[0], stream)
    await late.bridge.start()
    try:
        clock = await asyncio.wait_for(starting, GUARD)
        assert abs((clock.now() - late.clock.now()).total_seconds()) < 0.5
    finally:
        await followed.close()
        await late.bridge.close()


async def test_a_change_the_worker_missed_is_caught_up_by_asking_again(
    front: Front, connections: tuple[Client, Client], stream: str
) -> None:
    followed = FollowedClock(connections[1], stream=stream, channel=CH)
    clock = await asyncio.wait_for(followed.start(), GUARD)
    await followed.close()  # deaf to changes, as while a connection is away
    front.clock.advance(3600)
    await asyncio.sleep(0.1)
    assert (front.clock.now() - clock.now()).total_seconds() > 3000
    asking = asyncio.create_task(followed.run(every=0.05))
    try:
        for _ in range(100):
            if abs((front.clock.now() - clock.now()).total_seconds()) < 0.5:
                break
            await asyncio.sleep(0.02)
        assert abs((front.clock.now() - clock.now()).total_seconds()) < 0.5
    finally:
        asking.cancel()
