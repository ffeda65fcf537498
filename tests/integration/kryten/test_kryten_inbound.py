"""KrytenInbound against a real nats-server: robot-shaped messages in, observations out.

Messages are published exactly as Kryten-Robot publishes them: on
`kryten.events.cytube.{channel token}.{event name lowercased}`, body `{event_name, payload,
channel, domain, timestamp, correlation_id}` with CyTube's raw socket.io payload.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from adapters.clock import WallClock
from adapters.kryten.inbound import KrytenInbound
from adapters.log.memory_store import InMemoryEventStore
from adapters.log.subjects import token
from application.cytube.observations import Observation
from application.cytube.observing import Observer
from application.log.command_handler import CommandHandler
from application.log.streams import queue_stream
from domain.media import Media
from domain.presence.model import (
    ObserveAfkChanged,
    ObservedUser,
    ObserveUserJoined,
    ObserveUserLeft,
    ObserveUserList,
)
from domain.queue.commands import (
    ObservedItem,
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
    ObservePlaybackPosition,
    ObservePlaylist,
    ObserveTempChanged,
)
from domain.queue.decider import queue_decider

DOMAIN = "cytu.be"
WAIT = 5.0


class RecordingSink:
    """Our own ObservationSink port, faked: remembers what it was told, can be made to fail."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Observation, str | None]] = []
        self.fail_next = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0

    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(self.delay)  # a real sink awaits I/O: room for overlap
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("sink is down")
            self.seen.append((channel, observation, observation_id))
        finally:
            self.in_flight -= 1

    @property
    def observations(self) -> list[Observation]:
        return [o for _, o, _ in self.seen]

    @property
    def ids(self) -> list[str | None]:
        return [i for _, _, i in self.seen]


async def eventually(check: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Poll until `check()` holds; fail with `what` after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


def unique_channel(base: str = "lobby") -> str:
    """The nats-server is shared by the session: every test gets channels of its own."""
    return f"{base} {uuid.uuid4().hex[:10]}"


def body(
    event_name: str | None,
    payload: Any,
    *,
    channel: str,
    domain: str | None = DOMAIN,
    correlation_id: str | None = "",
) -> bytes:
    """A RawEvent as the robot serialises it (json.dumps of its to_dict())."""
    message: dict[str, Any] = {}
    if event_name is not None:
        message["event_name"] = event_name
    message["payload"] = payload
    message["channel"] = channel
    if domain is not None:
        message["domain"] = domain
    message["timestamp"] = "2026-11-20T20:00:00.123456+00:00"
    if correlation_id is not None:
        message["correlation_id"] = correlation_id or str(uuid.uuid4())
    return json.dumps(message).encode()


def subject(channel: str, event_name: str) -> str:
    return f"kryten.events.cytube.{token(channel)}.{event_name.lower()}"


async def publish(
    nc: Client,
    channel: str,
    event_name: str,
    payload: Any,
    **kw: Any,
) -> bytes:
    data = body(event_name, payload, channel=channel, **kw)
    await nc.publish(subject(channel, event_name), data)
    return data


def packed(uid: int, media_id: str, *, seconds: int = 240, temp: bool = False) -> dict[str, Any]:
    """CyTube's PlaylistItem.pack()."""
    return {
        "media": {
            "id": media_id,
            "title": f"Title of {media_id}",
            "seconds": seconds,
            "duration": f"{seconds // 60:02d}:{seconds % 60:02d}",
            "type": "yt",
            "meta": {"restricted": None, "direct": None},
        },
        "uid": uid,
        "temp": temp,
        "queueby": "alice",
    }


def media(media_id: str, seconds: int = 240) -> Media:
    return Media("yt", media_id, f"Title of {media_id}", seconds)


def user(name: str, rank: float = 1, afk: bool = False) -> dict[str, Any]:
    """CyTube's packUserData() as a non-moderator sees it."""
    return {
        "name": name,
        "rank": rank,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": afk, "muted": False},
    }


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def started(nc: Client, sink: RecordingSink) -> AsyncIterator[tuple[KrytenInbound, str]]:
    channel = unique_channel("Movie.Night Club")
    inbound = KrytenInbound(nc, channel, sink, domain=DOMAIN)
    await inbound.start()
    yield inbound, channel
    await inbound.stop()


async def test_queue_events_map_in_arrival_order(
    nc: Client, sink: RecordingSink, started: tuple[KrytenInbound, str]
) -> None:
    inbound, channel = started
    sink.delay = 0.005  # were handling concurrent, later messages would overtake
    await publish(nc, channel, "queue", {"item": packed(0, "a"), "after": "prepend"})
    await publish(nc, channel, "queue", {"item": packed(1, "b", temp=True), "after": 0})
    await publish(nc, channel, "queue", {"item": packed(2, "c", seconds=61), "after": 1})
    await publish(nc, channel, "setTemp", {"uid": 1, "temp": False})
    await publish(nc, channel, "moveVideo", {"from": 2, "after": 0})
    await publish(nc, channel, "moveVideo", {"from": 1, "after": "prepend"})
    await publish(nc, channel, "moveVideo", {"from": 0, "after": "append"})
    await publish(nc, channel, "setCurrent", 2)
    await publish(
        nc,
        channel,
        "changeMedia",
        {**packed(2, "c")["media"], "currentTime": -3, "paused": True},
    )
    await publish(nc, channel, "mediaUpdate", {"currentTime": 4.2, "paused": False})
    await publish(nc, channel, "delete", {"uid": 0})
    await eventually(lambda: inbound.stats.handled == 11, "11 messages")

    assert {c for c, _, _ in sink.seen} == {channel}
    assert sink.observations == [
        ObserveItemQueued(0, media("a"), temp=False, queued_by="alice", after="prepend"),
        ObserveItemQueued(1, media("b"), temp=True, queued_by="alice", after=0),
        ObserveItemQueued(2, media("c", 61), temp=False, queued_by="alice", after=1),
        ObserveTempChanged(1, False),
        ObserveItemMoved(2, after=0),
        ObserveItemMoved(1, after="prepend"),
        ObserveItemMoved(0, after="append"),
        ObserveNowPlaying(2, -3.0),  # CyTube starts a new item at -3 s, paused
        ObservePlaybackPosition(-3, True, "yt", "c"),
        ObservePlaybackPosition(4.2, False),
        ObserveItemDeleted(0),
    ]
    assert (inbound.stats.recorded, inbound.stats.ignored, inbound.stats.malformed) == (11, 0, 0)
    assert sink.max_in_flight == 1  # one at a time: order is the meaning of queue events
    assert all(i is not None and i.startswith("kryten-") for i in sink.ids)
    assert len(set(sink.ids)) == 11


async def test_playlist_snapshot(
    nc: Client, sink: RecordingSink, started: tuple[KrytenInbound, str]
) -> None:
    inbound, channel = started
    live = packed(7, "live", seconds=0)
    live["media"]["duration"] = "--:--"
    await publish(nc, channel, "playlist", [packed(5, "x"), packed(6, "y", temp=True), live])
    await publish(nc, channel, "setCurrent", 6)
    await publish(nc, channel, "playlist", [])  # what CyTube broadcasts after a clear
    await eventually(lambda: inbound.stats.recorded == 3, "3 observations")

    assert sink.observations == [
        ObservePlaylist(
            items=(
                ObservedItem(5, media("x"), temp=False, queued_by="alice"),
                ObservedItem(6, media("y"), temp=True, queued_by="alice"),
                ObservedItem(7, media("live", 0), temp=False, queued_by="alice"),
            ),
            current_uid=None,
            source="cytube",
        ),
        ObserveNowPlaying(6, -3.0),
        ObservePlaylist(items=(), current_uid=None, source="cytube"),
    ]


async def test_presence_events(
    nc: Client, sink: RecordingSink, started: tuple[KrytenInbound, str]
) -> None:
    inbound, channel = started
    await publish(nc, channel, "userlist", [user("Alice", 2), user("bob", 1.5, afk=True)])
    await publish(nc, channel, "addUser", user("carol", 0))
    await publish(nc, channel, "setAFK", {"name": "carol", "afk": True})
    await publish(nc, channel, "userLeave", {"name": "bob"})
    await publish(nc, channel, "usercount", 3)  # not ours: ignored
    await eventually(lambda: inbound.stats.handled == 5, "5 messages")

    assert sink.observations == [
        ObserveUserList((ObservedUser("Alice", 2, False), ObservedUser("bob", 1.5, True))),
        ObserveUserJoined(ObservedUser("carol", 0, False)),
        ObserveAfkChanged("carol", True),
        ObserveUserLeft("bob"),
    ]
    assert inbound.stats.ignored == 1


async def test_channel_name_normalises_into_the_subject(nc: Client, sink: RecordingSink) -> None:
    channel = unique_channel("Movie.Night Club")
    inbound = KrytenInbound(nc, channel, sink)
    assert inbound.subject == f"kryten.events.cytube.movienight-club-{channel[-10:]}.>"
    await inbound.start()
    try:
        await nc.publish(
            f"kryten.events.cytube.movienight-club-{channel[-10:]}.setcurrent",
            body("setCurrent", 3, channel=channel),
        )
        await eventually(lambda: inbound.stats.recorded == 1, "the setCurrent")
    finally:
        await inbound.stop()
    assert sink.seen[0][:2] == (channel, ObserveNowPlaying(3, -3.0))


async def test_event_name_falls_back_to_the_subject_and_ignores_case(
    nc: Client, sink: RecordingSink, started: tuple[KrytenInbound, str]
) -> None:
    inbound, channel = started
    await nc.publish(subject(channel, "setCurrent"), body(None, 4, channel=channel))
    await nc.publish(subject(channel, "delete"), body("DELETE", {"uid": 4}, channel=channel))
    await eventually(lambda: inbound.stats.recorded == 2, "2 observations")
    assert sink.observations == [ObserveNowPlaying(4, -3.0), ObserveItemDeleted(4)]


async def test_a_message_for_another_channel_is_not_seen(
    nc: Client, sink: RecordingSink, started: tuple[KrytenInbound, str]
) -> None:
    inbound, channel = started
    other = unique_channel("other")
    await publish(nc, other, "setCurrent", 99)
    # A prefix of our token is another channel too: `>` must not leak it in.
    await nc.publish(f"kryten.events.cytube.{token(channel)}x.setcurrent", b"{}")
    await publish(nc, channel, "setCurrent", 1)  # published last: when it is in, so were they
    await eventually(lambda: inbound.stats.recorded == 1, "our own setCurrent")
    assert sink.observations == [ObserveNowPlaying(1, -3.0)]
    assert inbound.stats.received == 1


async def test_malformed_message_is_dropped_and_the_next_one_arrives(
    nc: Client,
    sink: RecordingSink,
    started: tuple[KrytenInbound, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbound, channel = started
    caplog.set_level(logging.WARNING, logger="adapters.kryten.inbound")
    await publish(nc, channel, "queue", {"item": packed(-1, "a"), "after": "prepend"})
    await publish(nc, channel, "setCurrent", 8)
    await eventually(lambda: inbound.stats.handled == 2, "2 messages")

    assert sink.observations == [ObserveNowPlaying(8, -3.0)]
    assert inbound.stats.malformed == 1
    assert inbound.running
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "adapters.kryten.inbound"
    ]
    assert len(warnings) == 1
    assert "queue payload" in warnings[0] and "$.item.uid" in warnings[0]


BAD: dict[str, tuple[str, bytes | Callable[[str], bytes]]] = {
    "not json": ("queue", b"{not json"),
    "not an object": ("queue", b"[1, 2]"),
    "no payload": ("setcurrent", b'{"event_name": "setCurrent", "channel": "x"}'),
    "uid is a string": ("setcurrent", lambda ch: body("setCurrent", "5", channel=ch)),
    "uid is negative": ("delete", lambda ch: body("delete", {"uid": -1}, channel=ch)),
    "uid is fractional": ("delete", lambda ch: body("delete", {"uid": 1.5}, channel=ch)),
    "uid missing": ("delete", lambda ch: body("delete", {"id": 1}, channel=ch)),
    "empty media id": (
        "queue",
        lambda ch: body("queue", {"item": packed(1, ""), "after": 0}, channel=ch),
    ),
    "blank media id": (
        "queue",
        lambda ch: body("queue", {"item": packed(1, "  "), "after": 0}, channel=ch),
    ),
    "queue without after": (
        "queue",
        lambda ch: body("queue", {"item": packed(1, "a")}, channel=ch),
    ),
    "queue after append": (
        "queue",
        lambda ch: body("queue", {"item": packed(1, "a"), "after": "append"}, channel=ch),
    ),
    "temp is a string": (
        "settemp",
        lambda ch: body("setTemp", {"uid": 1, "temp": "yes"}, channel=ch),
    ),
    "move after nonsense": (
        "movevideo",
        lambda ch: body("moveVideo", {"from": 1, "after": "somewhere"}, channel=ch),
    ),
    "one bad item spoils the snapshot": (
        "playlist",
        lambda ch: body("playlist", [packed(1, "a"), {"uid": 2}], channel=ch),
    ),
    "user without a name": (
        "adduser",
        lambda ch: body("addUser", {"rank": 1, "meta": {"afk": False}}, channel=ch),
    ),
    "blank user name": ("userleave", lambda ch: body("userLeave", {"name": " "}, channel=ch)),
    "another domain": (
        "setcurrent",
        lambda ch: body("setCurrent", 5, channel=ch, domain="cy.tube2"),
    ),
    "another channel in the body": (
        "setcurrent",
        lambda ch: body("setCurrent", 5, channel="somewhere else"),
    ),
    "event_name disagrees with subject": (
        "setcurrent",
        lambda ch: body("delete", {"uid": 5}, channel=ch),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_each_kind_of_malformed_message_is_counted_and_survived(
    case: str,
    nc: Client,
    sink: RecordingSink,
    started: tuple[KrytenInbound, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbound, channel = started
    caplog.set_level(logging.WARNING, logger="adapters.kryten.inbound")
    event, bad = BAD[case]
    await nc.publish(
        f"kryten.events.cytube.{token(channel)}.{event}", bad(channel) if callable(bad) else bad
    )
    await publish(nc, channel, "delete", {"uid": 0})
    await eventually(lambda: inbound.stats.handled == 2, "2 messages")

    assert sink.observations == [ObserveItemDeleted(0)]
    assert (inbound.stats.malformed, inbound.stats.recorded) == (1, 1)
    assert [r.levelno for r in caplog.records if r.name == "adapters.kryten.inbound"] == [
        logging.WARNING
    ]


async def test_domain_is_matched_like_a_token_and_not_checked_when_unconfigured(
    nc: Client, sink: RecordingSink
) -> None:
    channel = unique_channel()
    strict = KrytenInbound(nc, channel, sink, domain="cytu.be")
    lenient_sink = RecordingSink()
    lenient = KrytenInbound(nc, channel, lenient_sink)
    await strict.start()
    await lenient.start()
    try:
        await publish(nc, channel, "setCurrent", 1, domain="Cytu.Be")
        await publish(nc, channel, "setCurrent", 2, domain=None)
        await publish(nc, channel, "setCurrent", 3, domain="example.org")
        await eventually(lambda: strict.stats.handled == 3 and lenient.stats.handled == 3, "3 each")
    finally:
        await strict.stop()
        await lenient.stop()
    assert sink.observations == [ObserveNowPlaying(1, -3.0), ObserveNowPlaying(2, -3.0)]
    assert strict.stats.malformed == 1
    assert lenient_sink.observations == [ObserveNowPlaying(u, -3.0) for u in (1, 2, 3)]


async def test_redelivery_gets_the_same_observation_id(
    nc: Client, sink: RecordingSink, started: tuple[KrytenInbound, str]
) -> None:
    inbound, channel = started
    queued = {"item": packed(3, "z"), "after": "prepend"}
    first = await publish(nc, channel, "queue", queued)
    await nc.publish(subject(channel, "queue"), first)  # the robot retrying its publish
    no_cid = body("setCurrent", 3, channel=channel, correlation_id=None)
    await nc.publish(subject(channel, "setCurrent"), no_cid)
    await nc.publish(subject(channel, "setCurrent"), no_cid)
    # Distinct events stay distinct, even when a peer reuses a correlation id.
    cid = str(uuid.uuid4())
    await publish(nc, channel, "setCurrent", 4, correlation_id=cid)
    await publish(nc, channel, "setCurrent", 5, correlation_id=cid)
    await publish(nc, channel, "queue", queued)  # same payload, fresh correlation id
    await eventually(lambda: inbound.stats.recorded == 7, "7 observations")

    ids = sink.ids
    assert sink.observations[0] == sink.observations[1]
    assert ids[0] == ids[1]
    assert ids[2] == ids[3]
    assert len({ids[0], ids[2], ids[4], ids[5], ids[6]}) == 5


async def test_a_failing_sink_does_not_end_the_subscription(
    nc: Client,
    sink: RecordingSink,
    started: tuple[KrytenInbound, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbound, channel = started
    sink.fail_next = 1
    await publish(nc, channel, "setCurrent", 1)
    await publish(nc, channel, "setCurrent", 2)
    await eventually(lambda: inbound.stats.handled == 2, "2 messages")

    assert sink.observations == [ObserveNowPlaying(2, -3.0)]
    assert (inbound.stats.failed, inbound.stats.recorded) == (1, 1)
    assert inbound.running
    assert any("sink failed" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_stop_finishes_what_was_delivered_then_hears_nothing(
    nc: Client, sink: RecordingSink
) -> None:
    channel = unique_channel()
    inbound = KrytenInbound(nc, channel, sink)
    await inbound.start()
    sink.gate = asyncio.Event()
    for uid in (1, 2, 3):
        await publish(nc, channel, "setCurrent", uid)
    await nc.flush()
    await asyncio.wait_for(sink.entered.wait(), WAIT)  # the first is in flight, held by the gate
    stopping = asyncio.create_task(inbound.stop())
    done, _ = await asyncio.wait({stopping}, timeout=0.2)
    assert not done, "stop() returned while a message was still being handled"
    sink.gate.set()
    await asyncio.wait_for(stopping, WAIT)

    assert sink.observations == [ObserveNowPlaying(u, -3.0) for u in (1, 2, 3)]
    assert not inbound.running
    # A witness listening on the same connection and subject: once it has handled 4 and then
    # a marker published after it, a subscription still open on `inbound` would have been
    # handed 4 too (the connection delivers in order to every subscription that matches).
    witness_sink = RecordingSink()
    witness = KrytenInbound(nc, channel, witness_sink)
    await witness.start()
    try:
        await publish(nc, channel, "setCurrent", 4)
        await publish(nc, channel, "setCurrent", 5)  # the marker
        await eventually(lambda: witness.stats.handled == 2, "the witness to hear 4 and 5")
        for _ in range(10):  # and give a leftover subscription every chance to run
            await asyncio.sleep(0.01)
    finally:
        await witness.stop()
    assert witness_sink.observations == [ObserveNowPlaying(4, -3.0), ObserveNowPlaying(5, -3.0)]
    assert inbound.stats.received == 3
    assert sink.observations == [ObserveNowPlaying(u, -3.0) for u in (1, 2, 3)]
    await inbound.stop()  # stopping twice is harmless


async def test_observations_fold_into_the_real_queue(nc: Client) -> None:
    channel = unique_channel("Movie.Night Club")
    store = InMemoryEventStore()
    observer = Observer(CommandHandler(store, WallClock()))
    inbound = KrytenInbound(nc, channel, observer, domain=DOMAIN)
    await inbound.start()
    try:
        first = await publish(nc, channel, "queue", {"item": packed(0, "a"), "after": "prepend"})
        await publish(nc, channel, "setCurrent", 0)
        await publish(nc, channel, "changeMedia", {**packed(0, "a")["media"], "currentTime": -3})
        await publish(nc, channel, "queue", {"item": packed(1, "b"), "after": 0})
        await publish(nc, channel, "queue", {"item": packed(2, "c", temp=True), "after": 1})
        await publish(nc, channel, "queue", {"item": packed(3, "d"), "after": 2})
        await publish(nc, channel, "moveVideo", {"from": 3, "after": 0})  # play d next
        await publish(nc, channel, "delete", {"uid": 1})
        await publish(nc, channel, "setTemp", {"uid": 2, "temp": False})
        await nc.publish(subject(channel, "queue"), first)  # a redelivered add
        await eventually(lambda: inbound.stats.handled == 10, "10 messages")
    finally:
        await inbound.stop()

    assert (inbound.stats.malformed, inbound.stats.failed, observer.rejected) == (0, 0, 0)
    stored = await store.read_stream(queue_stream(channel))
    assert len(stored) == 8  # the ignored changeMedia and the redelivered add append nothing
    state = queue_decider.fold(channel, [e for s in stored for e in s.commit.events])
    assert [i.uid for i in state.items] == [0, 3, 2]
    assert [i.media.id for i in state.items] == ["a", "d", "c"]
    assert [i.temp for i in state.items] == [False, False, False]
    assert state.now_playing_uid == 0
    assert state.current is not None and state.current.media.id == "a"


async def test_after_its_connection_is_opened_again_it_listens_again(nats_url: str) -> None:
    """The service reopens a connection the server closed (adapters.nats.connection); the
    subscription went with the old one, and `resubscribe` makes a new one."""
    client = await nats.connect(nats_url)
    sink = RecordingSink()
    channel = unique_channel()
    inbound = KrytenInbound(client, channel, sink)
    await inbound.start()
    try:
        await publish(client, channel, "setCurrent", 1)
        await eventually(lambda: inbound.stats.handled == 1, "the first message")
        await client.close()  # as nats-py does after the server ends the connection
        await eventually(lambda: not inbound.running, "the old subscription to end")
        await client.connect(nats_url)  # the same Client, opened again
        await inbound.resubscribe()
        await publish(client, channel, "setCurrent", 2)
        await eventually(lambda: inbound.stats.handled == 2, "a message after the reopen")
        assert sink.observations == [ObserveNowPlaying(1, -3.0), ObserveNowPlaying(2, -3.0)]
    finally:
        await inbound.stop()
        await client.close()
