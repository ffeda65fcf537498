"""The SnapshotStore contract, for the in-memory store and the JetStream KV store alike; and what
only the KV store has to get right: its encoding of every aggregate state, and refusing
snapshots it did not write the same way."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import attrs
import msgspec
import nats
import pytest

from adapters.log.jetstream_snapshots import (
    STATE_TYPES,
    JetStreamSnapshotStore,
    SnapshotCodec,
    snapshot_key,
)
from adapters.log.memory_snapshots import InMemorySnapshotStore
from application.log.ports import StreamId
from application.log.snapshots import Snapshot, SnapshotStore
from domain.decider import Context, Decider
from domain.media import Media
from domain.playlists.model import CreatePlaylist, SetPlaylistItems, playlist_decider
from domain.presence.model import (
    ObserveAfkChanged,
    ObservedUser,
    ObserveUserJoined,
    ObserveUserLeft,
    presence_decider,
)
from domain.promos.config import (
    GeneralCadence,
    PromoConfig,
    SetPromoConfig,
    TypeSettings,
    promo_config_decider,
)
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider
from domain.queue.pay_model import (
    LockQueue,
    NoteOwnerAway,
    PayItems,
    RecordPaymentCaptured,
    RequestPayItem,
    StartPayItemAdd,
)
from domain.queue.promo_model import DirectPromos
from domain.wallet.model import DebitForRequest, GrantCredit, RefundRequest, wallet_decider
from tests.unit.scenario import NOW

CLIPS = tuple(Media("yt", f"id{i}", f"Ident {i}", 10) for i in range(3))
POOLS = {
    t: CLIPS
    for t in ("channel_identity", "event", "mod_shoutout", "feature_presentation", "viewers_choice")
}


def _run(decider: Decider[Any, Any, Any], aggregate_id: str, *steps: tuple[Any, int]) -> Any:
    """Fold what the decider itself decides for each (command, minutes after NOW)."""
    state, rand = decider.initial(aggregate_id), random.Random(7)
    for command, minutes in steps:
        ctx = Context(now=NOW + timedelta(minutes=minutes), random=rand)
        for event in decider.decide(state, command, ctx):
            state = decider.evolve(state, event)
    return state


def rich_states() -> dict[str, tuple[StreamId, Any]]:
    """One state per aggregate with every kind of field filled in (mappings, tuples, times,
    nested classes, optional values), as the deciders build them."""
    paid = Media("yt", "p1", "Paid one", 200)
    queue = _run(
        queue_decider,
        "lobby",
        *[
            (ObserveItemQueued(n, Media("yt", f"c{n}", f"Clip {n}", 300), queued_by="bob"), 0)
            for n in range(1, 5)
        ],
        (ObserveNowPlaying(1), 0),
        (ObserveNowPlaying(2), 6),
        (RequestPayItem("r1", "ann", paid, "queue"), 6),
        (RecordPaymentCaptured("r1", 250), 6),
        (StartPayItemAdd("r1"), 6),
        (ObserveItemQueued(11, paid, temp=True), 6),
        (NoteOwnerAway("ann", "left", NOW, NOW + timedelta(seconds=60)), 6),
        (DirectPromos(POOLS, PromoConfig(general=GeneralCadence(every_n_items=1))), 7),
        (LockQueue("movie night", NOW + timedelta(hours=2), "mod"), 8),
    )
    assert queue.pay and queue.promos and queue.away and queue.lock and queue.cadence.last_clip
    presence = _run(
        presence_decider,
        "lobby",
        (ObserveUserJoined(ObservedUser("Ann", 2.5)), 0),
        (ObserveUserJoined(ObservedUser("bob")), 1),
        (ObserveAfkChanged("bob", True), 2),
        (ObserveUserLeft("Carol"), 3),
    )
    assert presence.users and presence.left
    wallet = _run(
        wallet_decider,
        "ann",
        (GrantCredit(1000, "mod", "welcome"), 0),
        (DebitForRequest("r1", 250), 1),
        (DebitForRequest("r2", 5000), 2),
        (DebitForRequest("r3", 100), 3),
        (RefundRequest("r3", "owner_left"), 4),
    )
    assert len(wallet.requests) == 3
    playlist = _run(
        playlist_decider,
        "pl1",
        (CreatePlaylist("Idents", "mod", promo_type="channel_identity"), 0),
        (SetPlaylistItems(CLIPS, "mod"), 1),
    )
    assert playlist.items
    types = {"channel_identity": TypeSettings(order="sequential", weight=2.5)}
    promo_config = _run(
        promo_config_decider,
        "lobby",
        (SetPromoConfig(PromoConfig(movie_threshold_seconds=1800, types=types), "mod"), 0),  # type: ignore[arg-type]
    )
    return {
        "queue": (StreamId("lobby", "queue", "lobby"), queue),
        "presence": (StreamId("lobby", "presence", "lobby"), presence),
        "wallet": (StreamId("lobby", "wallet", "ann"), wallet),
        "playlist": (StreamId("lobby", "playlist", "pl1"), playlist),
        "promo_config": (StreamId("lobby", "promo_config", "lobby"), promo_config),
    }


def assert_same_shape(got: Any, want: Any, path: str = "state") -> None:
    """Equal, and built of the same types all the way down (a read-only mapping stays one);
    a number annotated `float` may come back as a float where the fold held an int, and the
    fold's indexed pay tuple (`PayItems`, a tuple that also knows where each request id sits)
    comes back as the plain tuple it is to readers, to be indexed again by the next pay event."""
    if {type(got), type(want)} <= {int, float}:
        assert got == want, path
        return
    got, want = (tuple(v) if type(v) is PayItems else v for v in (got, want))
    assert type(got) is type(want), f"{path}: {type(got).__name__} != {type(want).__name__}"
    if attrs.has(type(want)):
        for f in attrs.fields(type(want)):
            assert_same_shape(getattr(got, f.name), getattr(want, f.name), f"{path}.{f.name}")
    elif isinstance(want, Mapping):
        assert set(got) == set(want), path
        for key, value in want.items():
            assert_same_shape(got[key], value, f"{path}[{key!r}]")
    elif isinstance(want, tuple):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same_shape(g, w, f"{path}[{i}]")
    else:
        assert got == want, path


@pytest.fixture(params=["memory", "jetstream"])
async def snapshots(request: pytest.FixtureRequest) -> AsyncIterator[SnapshotStore]:
    if request.param == "memory":
        yield InMemorySnapshotStore()
        return
    nc = await nats.connect(request.getfixturevalue("nats_url"))
    bucket = f"SNAP_{uuid.uuid4().hex[:12].upper()}"
    store = JetStreamSnapshotStore(nc, bucket=bucket)
    await store.ensure_bucket()
    yield store
    await nc.jetstream().delete_key_value(bucket)
    await nc.close()


LOBBY = StreamId("lobby", "queue", "lobby")


async def test_no_snapshot_yet_is_none(snapshots: SnapshotStore) -> None:
    assert await snapshots.get(LOBBY) is None


@pytest.mark.parametrize("aggregate", sorted(STATE_TYPES))
async def test_every_aggregate_state_comes_back_as_it_was_put(
    snapshots: SnapshotStore, aggregate: str
) -> None:
    stream, state = rich_states()[aggregate]
    await snapshots.put(stream, Snapshot(41, 7, state))
    got = await snapshots.get(stream)
    assert got is not None and (got.position, got.version) == (41, 7)
    assert got.state == state
    assert_same_shape(got.state, state)


async def test_a_newer_snapshot_replaces_an_older_one_but_never_the_reverse(
    snapshots: SnapshotStore,
) -> None:
    stream, state = rich_states()["queue"]
    await snapshots.put(stream, Snapshot(10, 5, state))
    await snapshots.put(stream, Snapshot(20, 9, state))
    await snapshots.put(stream, Snapshot(15, 7, state))  # a slow writer, late
    got = await snapshots.get(stream)
    assert got is not None and (got.position, got.version) == (20, 9)


async def test_streams_keep_their_own_snapshots(snapshots: SnapshotStore) -> None:
    states = rich_states()
    other = StreamId("Movie Night", "queue", "Movie Night")
    await snapshots.put(LOBBY, Snapshot(3, 3, states["queue"][1]))
    await snapshots.put(other, Snapshot(4, 1, states["queue"][1]))
    got_lobby, got_other = await snapshots.get(LOBBY), await snapshots.get(other)
    assert got_lobby is not None and got_lobby.position == 3
    assert got_other is not None and got_other.position == 4
    assert await snapshots.get(StreamId("lobby", "wallet", "ann")) is None


# ---- the KV store's encoding -------------------------------------------------------------------


def test_a_snapshot_of_another_layout_or_build_is_ignored_not_misread() -> None:
    codec = SnapshotCodec()
    _, state = rich_states()["queue"]
    data = codec.encode("queue", Snapshot(9, 4, state))
    assert codec.decode("queue", data) is not None
    wire = msgspec.json.decode(data)
    older = {**wire, "schema": wire["schema"].replace(":r1", ":r0")}
    assert codec.decode("queue", msgspec.json.encode(older)) is None
    assert codec.decode("presence", data) is None, "another aggregate's tag"
    assert codec.decode("queue", b"\x00not json") is None
    bad_state = {**wire, "state": {"channel": 5}}
    assert codec.decode("queue", msgspec.json.encode(bad_state)) is None


def test_the_tag_follows_the_state_layout() -> None:
    @attrs.frozen
    class V1:
        channel: str
        n: int = 0

    @attrs.frozen
    class V2:
        channel: str
        n: str = ""

    v1 = SnapshotCodec({"x": V1}).encode("x", Snapshot(1, 1, V1("c", 3)))
    assert SnapshotCodec({"x": V1}).decode("x", v1) == Snapshot(1, 1, V1("c", 3))
    assert SnapshotCodec({"x": V2}).decode("x", v1) is None
    assert SnapshotCodec({"x": V1}, revisions={"x": 2}).decode("x", v1) is None


async def test_unreadable_values_in_the_bucket_read_as_no_snapshot(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    bucket = f"SNAP_{uuid.uuid4().hex[:12].upper()}"
    store = JetStreamSnapshotStore(nc, bucket=bucket)
    try:
        await store.ensure_bucket()
        kv = await nc.jetstream().key_value(bucket)
        await kv.put(snapshot_key(LOBBY), b'{"schema":"wq-snapshot/0","position":1}')
        assert await store.get(LOBBY) is None
        _, state = rich_states()["queue"]
        await store.put(LOBBY, Snapshot(30, 12, state))  # replaces what it cannot read
        got = await store.get(LOBBY)
        assert got is not None and got.position == 30
    finally:
        await nc.jetstream().delete_key_value(bucket)
        await nc.close()
