"""The simulated CyTube channel: CyTube's playlist rules, playback, users, persistence, and
proof that what it reports folds, through the real deciders, into the same queue it holds."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.clock import VirtualClock
from adapters.sim.channel import (
    ALREADY_ON_PLAYLIST,
    LEAD_IN_SEC,
    TAIL_SEC,
    QueueFail,
    SimulatedChannel,
    slot_sec,
)
from adapters.sim.demo import DEMO_PLAYLIST, seed_demo
from application.cytube.observations import Observation
from domain.decider import Context
from domain.media import Media
from domain.presence.model import (
    ObserveAfkChanged,
    ObservedUser,
    ObserveUserJoined,
    ObserveUserLeft,
    ObserveUserList,
    PresenceCommand,
    presence_decider,
)
from domain.queue.commands import (
    Append,
    ExpectClear,
    ObservedItem,
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
    ObservePlaylist,
    ObservePlaylistCount,
    ObserveTempChanged,
    Prepend,
    QueueCommand,
)
from domain.queue.decider import queue_decider

T0 = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
CH = "lobby"
GUARD = 5.0
"""Real seconds after which a test fails instead of hanging; never a timing assertion."""

A = Media("yt", "fakeAAA", "Clip A", 180)
B = Media("yt", "fakeBBB", "Clip B", 240)
C = Media("vi", "900000003", "Clip C", 300)
D = Media("fi", "fakeDDD", "Feature D", 5820)
LIVE = Media("tw", "fake_live", "A stream", 0)


def slot(media: Media) -> float:
    s = slot_sec(media)
    assert s is not None
    return s


class RecordingSink:
    """A fake of our ObservationSink port that keeps what it is told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Observation, str | None]] = []

    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        self.seen.append((channel, observation, observation_id))

    @property
    def observations(self) -> list[Observation]:
        return [o for _, o, _ in self.seen]

    def take(self) -> list[Observation]:
        taken = self.observations
        self.seen.clear()
        return taken


class FrozenReal:
    """Real time that never moves: virtual time moves only by `advance`, so tests are exact."""

    def __call__(self) -> float:
        return 0.0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0, monotonic=FrozenReal())


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def sim(clock: VirtualClock, sink: RecordingSink) -> SimulatedChannel:
    return SimulatedChannel(CH, clock, sink)


def uids(sim: SimulatedChannel) -> list[int]:
    return [i.uid for i in sim.playlist()]


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def eventually(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - polls state the simulator owns; no event to await
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), GUARD)


async def running(sim: SimulatedChannel) -> asyncio.Task[None]:
    task = asyncio.ensure_future(sim.run())
    await settle()
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# ---- adding -------------------------------------------------------------------------------------


async def test_uids_count_from_one_and_the_first_item_starts_playing(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    assert await sim.add(A, queued_by="ann") == 1
    assert await sim.add(B) == 2
    assert sink.observations == [
        ObserveItemQueued(1, A, False, "ann", "prepend"),
        ObserveNowPlaying(1, 0.0),
        ObserveItemQueued(2, B, False, "", 1),
    ]
    assert sim.now_playing() == (1, 0.0)


async def test_add_next_lands_right_after_the_current_item(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    await sim.add(A)
    await sim.add(B)
    await sim.add(C)
    await sim.jump(2)
    sink.take()
    assert await sim.add(D, "next", temp=True) == 4
    assert uids(sim) == [1, 2, 4, 3]
    assert sink.observations == [ObserveItemQueued(4, D, True, "", 2)]


async def test_a_duplicate_at_end_fails_without_a_report_or_a_uid(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    await sim.add(A)
    await sim.add(B)
    sink.take()
    with pytest.raises(QueueFail) as info:
        await sim.add(B)
    assert info.value.msg == ALREADY_ON_PLAYLIST
    assert info.value.media == B
    assert not info.value.transient
    # CyTube finds duplicates by media id alone.
    with pytest.raises(QueueFail):
        await sim.add(Media("dm", B.id, "Same id, other host", 60))
    assert sink.observations == []
    assert await sim.add(C) == 3


async def test_a_duplicate_of_the_playing_item_fails_even_at_next(sim: SimulatedChannel) -> None:
    await sim.add(A)
    with pytest.raises(QueueFail):
        await sim.add(A, "next")


async def test_a_duplicate_at_next_moves_it_up_keeping_its_temp_flag(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    await sim.add(A)
    await sim.add(B)
    await sim.add(C, temp=True)
    sink.take()
    assert await sim.add(C, "next", queued_by="bob") == 4
    assert uids(sim) == [1, 4, 2]
    assert sink.observations == [
        ObserveItemDeleted(3),
        ObserveItemQueued(4, C, True, "bob", 1),
    ]


async def test_transient_failures_fail_the_next_adds_then_clear(sim: SimulatedChannel) -> None:
    sim.fail_next_adds(2)
    for _ in range(2):
        with pytest.raises(QueueFail) as info:
            await sim.add(A)
        assert info.value.transient
    assert await sim.add(A) == 1


# ---- moving, deleting, temp ---------------------------------------------------------------------


async def abcd(sim: SimulatedChannel) -> None:
    for media in (A, B, C, D):
        await sim.add(media)


async def test_move_after_a_uid_prepend_and_append(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    await abcd(sim)
    sink.take()
    await sim.move(4, 1)
    assert uids(sim) == [1, 4, 2, 3]
    await sim.move(1, 2)
    assert uids(sim) == [4, 2, 1, 3]
    await sim.move(3, "prepend")
    assert uids(sim) == [3, 4, 2, 1]
    await sim.move(3, "append")
    assert uids(sim) == [4, 2, 1, 3]
    assert sink.observations == [
        ObserveItemMoved(4, 1),
        ObserveItemMoved(1, 2),
        ObserveItemMoved(3, "prepend"),
        ObserveItemMoved(3, "append"),
    ]


async def test_impossible_moves_are_silent(sim: SimulatedChannel, sink: RecordingSink) -> None:
    await abcd(sim)
    sink.take()
    await sim.move(99, 1)
    await sim.move(2, 2)
    await sim.move(2, 99)
    assert uids(sim) == [1, 2, 3, 4]
    assert sink.observations == []


async def test_deleting_the_current_item_starts_the_next(
    sim: SimulatedChannel, sink: RecordingSink, clock: VirtualClock
) -> None:
    await abcd(sim)
    clock.advance(30)
    sink.take()
    await sim.delete(1)
    assert sink.observations == [ObserveItemDeleted(1), ObserveNowPlaying(2, 0.0)]
    assert sim.now_playing() == (2, 0.0)
    await sim.jump(4)
    await sim.delete(4)
    assert sim.current_uid == 2, "the last item's successor is the first"
    await sim.delete(99)
    assert uids(sim) == [2, 3]


async def test_deleting_the_only_item_stops_playback_without_a_set_current(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    await sim.add(A)
    sink.take()
    await sim.delete(1)
    assert sink.observations == [ObserveItemDeleted(1)]
    assert sim.now_playing() is None


async def test_set_temp_is_reported_even_when_unchanged(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    await sim.add(A)
    sink.take()
    await sim.set_temp(1, True)
    await sim.set_temp(1, True)
    await sim.set_temp(7, True)
    assert sink.observations == [ObserveTempChanged(1, True), ObserveTempChanged(1, True)]
    assert sim.playlist()[0].temp


async def test_clear_reports_an_empty_playlist_and_uids_run_on(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    await abcd(sim)
    sink.take()
    await sim.clear()
    assert sink.observations == [
        ObservePlaylist(items=(), source="cytube"),
        ObservePlaylistCount(0),
    ]
    assert sim.playlist() == ()
    assert sim.now_playing() is None
    assert await sim.add(A) == 5
    assert sim.current_uid == 5


async def test_snapshot_reports_items_and_current(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    await sim.add(A, queued_by="ann")
    await sim.add(B, temp=True)
    await sim.jump(2)
    sink.take()
    await sim.snapshot()
    assert sink.observations == [
        ObservePlaylist(
            (ObservedItem(1, A, False, "ann"), ObservedItem(2, B, True, "")),
            current_uid=2,
            source="cytube",
        )
    ]


# ---- playback -----------------------------------------------------------------------------------


def test_an_item_lasts_its_duration_plus_cytube_lead_in_and_tail() -> None:
    assert slot(A) == 180 + LEAD_IN_SEC + TAIL_SEC
    assert slot_sec(LIVE) is None


async def test_playback_moves_on_when_the_item_ends(
    sim: SimulatedChannel, sink: RecordingSink, clock: VirtualClock
) -> None:
    await abcd(sim)
    sink.take()
    clock.advance(slot(A) - 1)
    await sim.play_due()
    assert sim.current_uid == 1
    clock.advance(1)
    await sim.play_due()
    assert sim.now_playing() == (2, 0.0)
    assert sink.observations == [ObserveNowPlaying(2, 0.0)]


async def test_a_clock_jump_plays_through_several_items_exactly(
    sim: SimulatedChannel, sink: RecordingSink, clock: VirtualClock
) -> None:
    await abcd(sim)
    sink.take()
    clock.advance(slot(A) + slot(B) + 10)
    await sim.play_due()
    assert sink.observations == [ObserveNowPlaying(2, slot(B) + 10), ObserveNowPlaying(3, 10)]
    assert sim.now_playing() == (3, 10.0)


async def test_the_playlist_loops_back_to_the_first_item(
    sim: SimulatedChannel, clock: VirtualClock
) -> None:
    await sim.add(A)
    await sim.add(B)
    clock.advance(slot(A) + slot(B))
    await sim.play_due()
    assert sim.now_playing() == (1, 0.0)


async def test_a_lone_item_restarts_itself(
    sim: SimulatedChannel, sink: RecordingSink, clock: VirtualClock
) -> None:
    await sim.add(A)
    sink.take()
    clock.advance(slot(A))
    await sim.play_due()
    assert sink.observations == [ObserveNowPlaying(1, 0.0)]


async def test_a_finished_temp_item_is_deleted_before_the_next_starts(
    sim: SimulatedChannel, sink: RecordingSink, clock: VirtualClock
) -> None:
    """CyTube's `_playNext` deletes a finished temp item, and `_delete` starts the next one
    after broadcasting the delete."""
    await sim.add(A, temp=True)
    await sim.add(B)
    sink.take()
    clock.advance(slot(A))
    await sim.play_due()
    assert sink.observations == [ObserveItemDeleted(1), ObserveNowPlaying(2, 0.0)]
    assert uids(sim) == [2]
    clock.advance(slot(B))
    await sim.play_due()
    assert uids(sim) == [2], "temp items never pile up when the playlist loops"


async def test_a_temp_item_jumped_away_from_is_deleted_after_the_set_current(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    """CyTube's `jumpTo` starts the new item first, then deletes the old temp one."""
    await sim.add(A, temp=True)
    await sim.add(B)
    await sim.add(C)
    sink.take()
    await sim.jump(3)
    assert sink.observations == [ObserveNowPlaying(3, 0.0), ObserveItemDeleted(1)]
    assert uids(sim) == [2, 3]


async def test_a_lone_temp_item_that_ends_empties_the_playlist(
    sim: SimulatedChannel, clock: VirtualClock
) -> None:
    await sim.add(A, temp=True)
    clock.advance(slot(A))
    await sim.play_due()
    assert sim.playlist() == ()
    assert sim.now_playing() is None


async def test_a_live_item_plays_until_skipped(sim: SimulatedChannel, clock: VirtualClock) -> None:
    await sim.add(LIVE)
    await sim.add(A)
    clock.advance(86_400)
    await sim.play_due()
    assert sim.current_uid == 1
    await sim.skip()
    assert sim.now_playing() == (2, 0.0)


async def test_run_follows_clock_advance(
    sim: SimulatedChannel, sink: RecordingSink, clock: VirtualClock
) -> None:
    await abcd(sim)
    task = await running(sim)
    try:
        clock.advance(slot(A))
        await eventually(lambda: sim.current_uid == 2)
        clock.advance(slot(B) + slot(C))
        await eventually(lambda: sim.current_uid == 4)
    finally:
        await stop(task)
    assert [o for o in sink.observations if isinstance(o, ObserveNowPlaying)][-3:] == [
        ObserveNowPlaying(2, 0.0),
        ObserveNowPlaying(3, slot(C)),
        ObserveNowPlaying(4, 0.0),
    ]


async def test_run_replans_at_once_when_the_current_item_changes(
    sim: SimulatedChannel, clock: VirtualClock
) -> None:
    """After a delete of the current item the loop must wait for B's end, not A's."""
    short = Media("yt", "fakeShort", "Short", 60)
    await sim.add(D)
    await sim.add(short)
    await sim.add(A)
    task = await running(sim)
    try:
        await sim.delete(1)
        await settle()
        clock.advance(slot(short))
        await eventually(lambda: sim.current_uid == 3)
    finally:
        await stop(task)


async def test_run_starts_an_item_added_to_an_empty_playlist(
    sim: SimulatedChannel, clock: VirtualClock
) -> None:
    task = await running(sim)
    try:
        await sim.add(A)
        await sim.add(B)
        await settle()
        clock.advance(slot(A))
        await eventually(lambda: sim.current_uid == 2)
    finally:
        await stop(task)


async def test_run_plays_in_fast_virtual_time(sink: RecordingSink) -> None:
    clock = VirtualClock(T0, speed=10_000)
    sim = SimulatedChannel(CH, clock, sink)
    await sim.add(Media("yt", "fake60a", "One minute", 60))
    await sim.add(Media("yt", "fake60b", "Another minute", 60))
    task = await running(sim)
    try:
        await eventually(lambda: sim.current_uid == 2)
    finally:
        await stop(task)
    assert clock.now() >= T0 + timedelta(seconds=65)


# ---- users --------------------------------------------------------------------------------------


async def test_users_join_go_afk_and_leave(sim: SimulatedChannel, sink: RecordingSink) -> None:
    await sim.join("Ann", rank=2)
    await sim.join("bob")
    await sim.set_afk("ANN", True)
    await sim.set_afk("ann", True)
    await sim.leave("Bob")
    await sim.leave("nobody")
    assert sim.user("ann") == ObservedUser("Ann", 2, True)
    assert sim.user("bob") is None
    assert sim.users() == (ObservedUser("Ann", 2, True),)
    assert sink.observations == [
        ObserveUserJoined(ObservedUser("Ann", 2, False)),
        ObserveUserJoined(ObservedUser("bob", 1, False)),
        ObserveAfkChanged("Ann", True),
        ObserveUserLeft("bob"),
    ]


async def test_a_second_login_drops_the_first(sim: SimulatedChannel, sink: RecordingSink) -> None:
    await sim.join("ann")
    sink.take()
    await sim.join("Ann", rank=3)
    assert sink.observations == [
        ObserveUserLeft("ann"),
        ObserveUserJoined(ObservedUser("Ann", 3, False)),
    ]


# ---- reporting and persistence ------------------------------------------------------------------


async def test_every_report_has_its_own_observation_id(
    sim: SimulatedChannel, sink: RecordingSink
) -> None:
    await abcd(sim)
    await sim.join("ann")
    ids = [i for _, _, i in sink.seen]
    assert ids == [f"sim-{CH}-{n}" for n in range(1, len(ids) + 1)]
    assert {c for c, _, _ in sink.seen} == {CH}


async def test_a_restart_finds_the_channel_as_it_was_left(tmp_path: Path) -> None:
    path = tmp_path / "state" / "lobby.json"
    first_sink = RecordingSink()
    clock = VirtualClock(T0, monotonic=FrozenReal())
    sim = await SimulatedChannel.load(CH, clock, first_sink, path)
    await abcd(sim)
    await sim.add(Media("yt", "fakeTemp", "Temp", 90), temp=True, queued_by="ann")
    await sim.delete(2)
    await sim.jump(3)
    await sim.join("ann", rank=2)
    await sim.join("bob", afk=True)
    clock.advance(42)
    await sim.set_afk("bob", False)
    before = (sim.playlist(), sim.now_playing(), sim.users())
    old_ids = {i for _, _, i in first_sink.seen}

    saved_time = SimulatedChannel.saved_time(path)
    assert saved_time == T0 + timedelta(seconds=42)
    sink = RecordingSink()
    restored = await SimulatedChannel.load(
        CH, VirtualClock(saved_time, monotonic=FrozenReal()), sink, path
    )
    assert (restored.playlist(), restored.now_playing(), restored.users()) == before
    assert before[1] == (3, 42.0)
    assert sink.observations == [
        ObservePlaylist(restored.playlist(), current_uid=3, source="cytube"),
        ObserveUserList(restored.users()),
    ]
    assert await restored.add(Media("yt", "fakeNew", "New", 60)) == 6
    assert not old_ids & {i for _, _, i in sink.seen}, "observation ids never repeat"


async def test_load_without_saved_state_starts_empty(
    tmp_path: Path, clock: VirtualClock, sink: RecordingSink
) -> None:
    sim = await SimulatedChannel.load(CH, clock, sink, tmp_path / "none.json")
    assert sim.playlist() == ()
    assert sink.observations == [ObservePlaylist((), source="cytube"), ObserveUserList(())]


async def test_state_of_another_channel_is_refused(
    tmp_path: Path, clock: VirtualClock, sink: RecordingSink
) -> None:
    path = tmp_path / "s.json"
    other = SimulatedChannel("other", clock, sink, state_path=path)
    await other.add(A)
    with pytest.raises(ValueError):
        await SimulatedChannel.load(CH, clock, sink, path)


# ---- demo ---------------------------------------------------------------------------------------


def test_demo_playlist_ranges_from_clips_to_a_feature() -> None:
    assert len(DEMO_PLAYLIST) >= 12
    lengths = [m.duration_sec for m in DEMO_PLAYLIST]
    assert any(120 <= s <= 300 for s in lengths)
    assert max(lengths) > 3600
    assert len({m.id for m in DEMO_PLAYLIST}) == len(DEMO_PLAYLIST)
    assert all("fake" in m.id or "demo" in m.id or m.id.startswith("9000") for m in DEMO_PLAYLIST)


async def test_seed_demo_fills_only_an_empty_channel(sim: SimulatedChannel) -> None:
    assert await seed_demo(sim) == len(DEMO_PLAYLIST)
    assert [i.media for i in sim.playlist()] == list(DEMO_PLAYLIST)
    assert await seed_demo(sim) == 0


# ---- speaking the deciders' language ------------------------------------------------------------


class ShadowSink:
    """Folds every observation through the real deciders, as the service will."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.queue = queue_decider.initial(CH)
        self.presence = presence_decider.initial(CH)
        self.events: list[Any] = []

    def _queue(self, command: QueueCommand) -> None:
        ctx = Context(now=self.clock.now())
        for event in queue_decider.decide(self.queue, command, ctx):
            self.events.append(event)
            self.queue = queue_decider.evolve(self.queue, event)

    def _presence(self, command: PresenceCommand) -> None:
        ctx = Context(now=self.clock.now())
        for event in presence_decider.decide(self.presence, command, ctx):
            self.presence = presence_decider.evolve(self.presence, event)

    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        assert channel == CH
        if isinstance(
            observation, ObserveUserJoined | ObserveUserLeft | ObserveAfkChanged | ObserveUserList
        ):
            self._presence(observation)
        else:
            self._queue(observation)

    def expect_clear(self) -> None:
        """What webqueue records before it asks CyTube to clear."""
        self._queue(ExpectClear(by="test"))


def assert_same(shadow: ShadowSink, sim: SimulatedChannel) -> None:
    held = [(i.uid, i.media, i.temp) for i in shadow.queue.items]
    assert held == [(i.uid, i.media, i.temp) for i in sim.playlist()]
    assert shadow.queue.now_playing_uid == sim.current_uid
    if sim.current_uid is not None:
        assert shadow.queue.current is not None
    users = {name: (p.rank, p.afk) for name, p in shadow.presence.users.items()}
    assert users == {u.name.lower(): (u.rank, u.afk) for u in sim.users()}


POOL = (
    A,
    B,
    C,
    D,
    LIVE,
    Media("yt", "fake001", "One", 61),
    Media("yt", "fake002", "Two", 125),
    Media("dm", "fake003", "Three", 30),
    Media("sc", "fake004", "Four", 400),
    Media("yt", "fake005", "Five", 15),
    Media("vi", "fake001", "Same id as One, other host", 70),
)
NAMES = ("ann", "Bob", "cy", "dee")


async def random_step(
    rng: random.Random, sim: SimulatedChannel, shadow: ShadowSink, clock: VirtualClock
) -> None:
    present = uids(sim)
    some_uid = rng.choice([*present, 999]) if present else 999
    op = rng.choices(
        [
            "add_end",
            "add_next",
            "delete",
            "move",
            "temp",
            "jump",
            "skip",
            "advance",
            "snapshot",
            "clear",
            "user",
        ],
        weights=[14, 6, 5, 6, 3, 3, 2, 12, 1, 1, 4],
    )[0]
    if op in ("add_end", "add_next"):
        with_temp = rng.random() < 0.4
        with contextlib.suppress(QueueFail):
            await sim.add(
                rng.choice(POOL),
                "end" if op == "add_end" else "next",
                temp=with_temp,
                queued_by=rng.choice(NAMES),
            )
    elif op == "delete":
        await sim.delete(some_uid)
    elif op == "move":
        anchors: list[int | Prepend | Append] = [*present, "prepend", "append", 999]
        await sim.move(some_uid, rng.choice(anchors))
    elif op == "temp":
        await sim.set_temp(some_uid, rng.random() < 0.5)
    elif op == "jump":
        await sim.jump(some_uid)
    elif op == "skip":
        await sim.skip()
    elif op == "advance":
        clock.advance(rng.choice([1, 30, 65, 185, 400, 1000, 6000]))
        await sim.play_due()
    elif op == "snapshot":
        await sim.snapshot()
    elif op == "clear":
        shadow.expect_clear()
        await sim.clear()
    else:
        name = rng.choice(NAMES)
        action = rng.choice(["join", "leave", "afk", "back"])
        if action == "join":
            await sim.join(name, rank=rng.choice([0, 1, 2]), afk=rng.random() < 0.2)
        elif action == "leave":
            await sim.leave(name)
        else:
            await sim.set_afk(name, action == "afk")


@pytest.mark.parametrize("seed", range(8))
async def test_reports_fold_through_the_deciders_into_the_same_channel(seed: int) -> None:
    rng = random.Random(seed)
    clock = VirtualClock(T0, monotonic=FrozenReal())
    shadow = ShadowSink(clock)
    sim = SimulatedChannel(CH, clock, shadow)
    task = await running(sim)
    try:
        for _ in range(400):
            await random_step(rng, sim, shadow, clock)
            assert_same(shadow, sim)
    finally:
        await stop(task)
    kinds = {type(e).__name__ for e in shadow.events}
    assert {"ItemAdded", "ItemRemoved", "ItemMoved", "NowPlayingChanged"} <= kinds


async def test_a_restart_reconciles_to_nothing_new(tmp_path: Path) -> None:
    """The snapshot a restored channel reports matches the shadow the log already holds."""
    path = tmp_path / "s.json"
    clock = VirtualClock(T0, monotonic=FrozenReal())
    shadow = ShadowSink(clock)
    sim = await SimulatedChannel.load(CH, clock, shadow, path)
    rng = random.Random(99)
    for _ in range(150):
        await random_step(rng, sim, shadow, clock)
    before = len(shadow.events)
    restored = await SimulatedChannel.load(CH, clock, shadow, path)
    assert_same(shadow, restored)
    assert [type(e).__name__ for e in shadow.events[before:]] in ([], ["SnapshotReconciled"])
