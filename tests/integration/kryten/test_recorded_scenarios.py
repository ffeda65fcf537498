"""What the real CyTube and Kryten-Robot sent, replayed: the shadow must equal CyTube's own
playlist at every checkpoint the recording took (see recorded.py for how a replay works)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import nats
import pytest
from nats.aio.client import Client

from domain.presence.model import Presence
from domain.queue.events import ItemUidRemapped, NowPlayingChanged
from tests.integration.kryten.recorded import START, Replay, at_of, eventually, steps


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def replays(nc: Client) -> AsyncIterator[list[Replay]]:
    made: list[Replay] = []
    yield made
    for replay in made:
        await replay.stop()


async def replay(nc: Client, replays: list[Replay], name: str, **kw: bool) -> Replay:
    r = await Replay(nc, name).start(**kw)
    replays.append(r)
    return r


# ---- 1: a clear -----------------------------------------------------------------------------


async def test_a_clear_in_cytube_empties_the_queue_for_good(
    nc: Client, replays: list[Replay]
) -> None:
    """CyTube's clear is `playlist []` and `setPlaylistMeta {count: 0}` only; the robot's
    state.playlist then answers [] too. Believed at once, and an add afterwards lands alone."""
    r = await replay(nc, replays, "4_clear")
    await r.seed_from("before_clear")
    await r.snapshot()
    await r.matches("before_clear")
    await r.play(until=at_of(r.doc, "after_clear"))
    await r.matches("after_clear")
    assert not (await r.state()).empty_snapshot_held
    await r.snapshot()  # the robot's [] (its KV agrees) is an empty channel, not a failure
    await r.matches("after_clear")
    await r.play()
    await r.matches("after_clear_then_add")


async def test_an_empty_read_nothing_vouches_for_changes_nothing(
    nc: Client, replays: list[Replay]
) -> None:
    """A robot whose read failed answers [] while its KV bucket still holds the items."""
    r = await replay(nc, replays, "4_clear")
    await r.seed_from("before_clear")
    await r.snapshot()
    r.memory = []  # the read fails; the KV bucket is untouched
    await r.snapshot()
    await r.matches("before_clear")
    assert (await r.state()).empty_snapshot_held


# ---- 2: snapshots at start and after every gap ------------------------------------------------


async def test_started_against_a_busy_channel_the_queue_is_there_with_now_playing(
    nc: Client, replays: list[Replay]
) -> None:
    """The robot joined first (its burst is gone); webqueue starts and reads a snapshot:
    state.playlist for the items, the KV bucket's `current` for what plays."""
    r = await replay(nc, replays, "1_robot_join_burst", listen=False)
    await r.play(events=False)
    await r.inbound.start()
    await r.snapshot()
    await r.matches("after_join")


async def test_the_join_burst_itself_is_a_snapshot_with_the_position_reached(
    nc: Client, replays: list[Replay]
) -> None:
    r = await replay(nc, replays, "1_robot_join_burst")
    await r.play(until=1.0)
    state = await r.state()
    # changeMedia on a join carries the live position (5.0 s in), not a fresh start.
    assert state.playing_since is not None
    started = (state.playing_since - START).total_seconds()
    assert abs(started - (0.860 - 5.002)) < 0.01
    await r.play()
    await r.matches("after_join")


async def test_a_robot_restart_whose_burst_was_missed_heals_from_its_lifecycle(
    nc: Client, replays: list[Replay]
) -> None:
    """CyTube changed while the robot was away (the temp item finished); the join burst did
    not reach us. `kryten.lifecycle.robot.connected {target: CyTube}` asks for a snapshot."""
    from adapters.kryten.peers import robot_watch

    r = await replay(nc, replays, "8_robot_restart")
    joined: list[str] = []

    def back(why: str) -> None:
        joined.append(why)
        r.resync.request(r.channel, why)

    watch = robot_watch(
        nc,
        r.clock,
        r.robot,
        channel=r.channel,
        domain=r.domain,
        lifecycle=r.lifecycle,
        on_back=back,
    )
    await watch.start()
    try:
        first_join = next(
            s["at"] for s in steps(r.doc, "subject") if s["subject"].endswith("setcurrent")
        )
        await r.play(until=first_join + 1)  # the first join burst arrives
        before = [i.uid for i in (await r.state()).items]
        assert before
        kick = next(s["at"] for s in steps(r.doc, "note") if s["note"] == "owner_kicks_robot")
        await r.play(until=kick)
        await r.play(events=False)  # everything after the kick reaches us but the events
        await eventually(lambda: len(joined) >= 2, "the rejoins seen")
        await r.resync.idle()
        state = await r.state()
        assert [i.uid for i in state.items] == [i["uid"] for i in r.memory or []]
        assert [i.uid for i in state.items] != before  # the temp item finished meanwhile
    finally:
        await watch.stop()


async def test_a_uid_we_do_not_hold_asks_for_a_snapshot(nc: Client, replays: list[Replay]) -> None:
    """webqueue missed the adds (they happened before it listened): the next setCurrent names
    an unknown uid; that desync, not a restart, brings the snapshot."""
    r = await replay(nc, replays, "7_media_change", listen=False)
    await r.play(until=5.0, events=False)  # the adds reach the robot, not us
    await r.inbound.start()
    await r.play(until=at_of(r.doc, "mid"))
    await r.resync.idle()
    await r.play(until=at_of(r.doc, "mid"))
    await r.matches("mid")


# ---- 2: a read merged with what the log knows -------------------------------------------------


async def test_a_snapshot_after_settemp_keeps_cytubes_temp_flags(
    nc: Client, replays: list[Replay]
) -> None:
    """The robot never applies setTemp: its copy says uid 16 is not temp, CyTube says it is."""
    r = await replay(nc, replays, "3_move_delete_settemp_jump")
    await r.seed_from("after_moves")
    await r.snapshot()
    await r.play(until=at_of(r.doc, "after_settemp"))
    await r.matches("after_settemp")
    assert any(i["uid"] == 16 and not i["temp"] for i in r.memory or [])  # the robot's fault
    await r.snapshot()
    await r.matches("after_settemp")
    await r.play()
    await r.matches("after_delete_current")


async def test_a_reload_renumbers_from_0_and_a_read_never_brings_deleted_uid_0_back(
    nc: Client, replays: list[Replay]
) -> None:
    """After a reload CyTube numbers from 0; the robot skips `moveVideo`/`delete` of uid 0, so
    its copy still lists uid 0 first. A snapshot must not undo the move or the delete."""
    r = await replay(nc, replays, "11_channel_reload")
    await r.play(until=at_of(r.doc, "before_reload"))
    await r.matches("before_reload")
    ids = {i.uid: i.item_id for i in (await r.state()).items}
    await r.play(until=at_of(r.doc, "after_reload"))
    await r.matches("after_reload")
    after = {i.uid: i.item_id for i in (await r.state()).items}
    assert [after[u] for u in (0, 1, 2, 3)] == [ids[u] for u in (13, 14, 15, 16)]  # same items
    await r.play(until=at_of(r.doc, "after_move_uid0"))
    await r.snapshot()
    await r.matches("after_move_uid0")
    await r.play(until=at_of(r.doc, "after_delete_uid0"))
    assert [i["uid"] for i in r.memory or []] == [0, 1, 2, 3]  # the robot still has it
    await r.snapshot()
    await r.matches("after_delete_uid0")


async def test_a_shuffle_keeps_every_item_and_the_playing_clock(
    nc: Client, replays: list[Replay]
) -> None:
    r = await replay(nc, replays, "10_shuffle")
    await r.seed_from("before_shuffle")
    await r.snapshot()
    await r.matches("before_shuffle")
    before = {i.media.key: i.item_id for i in (await r.state()).items}
    position = await r.store.head()
    await r.play()
    await r.matches("after_shuffle")
    state = await r.state()
    assert {i.media.key: i.item_id for i in state.items} == before  # remapped, not re-added
    new = [e async for s in r.store.read_all(after=position) for e in s.commit.events]
    assert any(isinstance(e, ItemUidRemapped) for e in new)
    assert not any(isinstance(e, NowPlayingChanged) for e in new)  # no new start
    view = await r.view()
    assert view.now_playing is not None and view.now_playing.elapsed_sec is not None
    assert abs(view.now_playing.elapsed_sec - 50.05) < 1.5  # CyTube's own position


# ---- 3: now playing before its item -----------------------------------------------------------


async def test_now_playing_named_before_its_item_is_linked_once_a_snapshot_brings_it(
    nc: Client, replays: list[Replay]
) -> None:
    r = await replay(nc, replays, "1_robot_join_burst")
    setcurrent = next(s for s in steps(r.doc, "subject") if s["subject"].endswith("setcurrent"))
    r.answering = False  # the robot is busy: the snapshot this desync asks for waits
    # Only the setCurrent reached us; the playlist broadcasts were lost.
    await r.play(skip=lambda s: s is not setcurrent and "subject" in s and "cytube" in s["subject"])
    state = await r.state()
    assert state.now_playing is None and state.now_playing_uid == 8
    r.answering = True
    await eventually(lambda: r.resync.stats.read > 0, "the snapshot the unknown uid asked for")
    await r.resync.idle()
    await r.matches("after_join")
    view = await r.view()
    assert view.now_playing is not None and view.now_playing.item is not None
    assert all(i.eta_sec is not None for i in view.items)


# ---- 4: every state.user shape ----------------------------------------------------------------


async def test_every_state_user_shape_the_robot_really_sends(
    nc: Client, replays: list[Replay]
) -> None:
    r = await replay(nc, replays, "5_state_queries")
    r.memory = []
    gina = await r.robot.user(r.channel, "gina")  # a guest: CyTube's full shape
    alice = await r.robot.user(r.channel, "alice")  # registered: the bare setUserRank shape
    kryten = await r.robot.user(r.channel, "kryten")
    nobody = await r.robot.user(r.channel, "nobody")
    assert (gina.name, gina.rank, gina.afk) == ("gina", 0, False)  # type: ignore[union-attr]
    assert (alice.name, alice.rank, alice.afk) == ("alice", 1, False)  # type: ignore[union-attr]
    assert (kryten.name, kryten.rank) == ("kryten", 3)  # type: ignore[union-attr]
    assert nobody is None
    users = await replay(nc, replays, "6_users")
    bob = await users.robot.user(users.channel, "bob")  # bare, then setAFK merged {afk}
    assert bob is not None and bob.name == "bob"


async def test_joins_leaves_afk_and_ranks_as_cytube_sent_them(
    nc: Client, replays: list[Replay]
) -> None:
    r = await replay(nc, replays, "6_users")
    await r.play(until=27.0)  # bob promoted to 2
    presence = await r.presence()
    bob = presence.users["bob"]
    assert isinstance(bob, Presence) and bob.rank == 2 and not bob.afk
    assert "hank" in presence.left
    await r.play(until=31.0)  # leader: 1.5
    assert (await r.presence()).users["bob"].rank == 1.5
    await r.play()
    presence = await r.presence()
    assert "bob" in presence.left and presence.users["alice"].afk


# ---- 6: the playback clock --------------------------------------------------------------------


async def test_etas_match_when_cytube_really_started_each_item(
    nc: Client, replays: list[Replay]
) -> None:
    """CyTube starts each item at -3 s, paused, and moves on 2 s after its end: the next item
    begins playing (mediaUpdate 0) `seconds + 5` after the previous one did."""
    r = await replay(nc, replays, "7_media_change")
    await r.play(until=5.0)
    view = await r.view()
    now = r.clock.now()
    s2 = next(i for i in view.items if i.uid == 19)
    s3 = next(i for i in view.items if i.uid == 20)
    assert s2.eta_sec is not None and s3.eta_sec is not None
    # Recorded: s2 played from 21.031 (mediaUpdate {0, paused: false}), s3 from 40.042.
    assert abs((now + timedelta(seconds=s2.eta_sec) - START).total_seconds() - 21.031) < 1.0
    assert abs((now + timedelta(seconds=s3.eta_sec) - START).total_seconds() - 40.042) < 1.0
    await r.play(until=30.0)
    r.clock.set(START + timedelta(seconds=30.0))
    view = await r.view()
    assert view.now_playing is not None and view.now_playing.elapsed_sec is not None
    assert abs(view.now_playing.elapsed_sec - (30.0 - 21.031)) < 0.5


async def test_after_a_cytube_restart_elapsed_is_where_cytube_resumed(
    nc: Client, replays: list[Replay]
) -> None:
    """The issue's case: 16 s shown for an item CyTube had far beyond. After a reload CyTube
    resumes at the saved position, and its changeMedia says so."""
    r = await replay(nc, replays, "11_channel_reload")
    await r.play(until=17.0)
    view = await r.view()
    assert view.now_playing is not None and view.now_playing.elapsed_sec is not None
    assert abs(view.now_playing.elapsed_sec - 8.0) < 1.0  # changeMedia currentTime 8.005


async def test_cytube_restarted_under_the_robot_the_queue_is_cytubes_renumbered_list(
    nc: Client, replays: list[Replay]
) -> None:
    """13_cytube_restart: CyTube goes down under a running robot (which exits and is started
    again by its supervisor); back, CyTube numbers its playlist from 0 and resumes the item
    at its saved position. The shadow follows the new burst alone: CyTube's list, uids and
    all, what plays linked, the clock where CyTube is, as the robot's own read says."""
    r = await replay(nc, replays, "13_cytube_restart")
    await r.play()
    read = next(s for s in steps(r.doc, "command") if s["command"] == "state.playlist")
    real = read["reply"]["data"]["playlist"]
    state = await r.state()
    assert [(i.uid, i.media.id) for i in state.items] == [
        (i["uid"], i["media"]["id"]) for i in real
    ]
    assert state.now_playing_uid == 0 and state.current is not None
    assert state.current.media.id == real[0]["media"]["id"]
    r.clock.set(START + timedelta(seconds=read["at"]))
    view = await r.view()
    assert view.now_playing is not None and view.now_playing.elapsed_sec is not None
    # The last mediaUpdate (31.357 s) said 69.05 s; 1.7 s later CyTube is near 70.7 s.
    assert abs(view.now_playing.elapsed_sec - 70.7) < 1.5


async def test_a_snapshot_asked_while_the_robot_starts_waits_for_its_first_answer(
    nc: Client, replays: list[Replay]
) -> None:
    """12_state_during_startup: asked for `state.playlist` while it starts, the robot answers
    nothing (twice, 0.5 s each) and then the list. A read that got no answer is no snapshot:
    nothing is recorded until the list comes, and then the list is the queue."""
    r = await replay(nc, replays, "12_state_during_startup", listen=False)
    answered = next(
        s["at"]
        for s in steps(r.doc, "command")
        if s["command"] == "state.playlist" and "_timeout" not in s["reply"]
    )
    r.answering = False  # its state handler is not subscribed yet
    await r.play(until=answered - 0.01, events=False)
    r.resync.request(r.channel, "start")
    await eventually(lambda: len(r.commands) >= 2, "the robot asked twice")
    assert (await r.state()).items == ()
    r.answering = True
    await r.resync.idle()
    real = next(
        s["reply"]["data"]["playlist"]
        for s in steps(r.doc, "command")
        if s["command"] == "state.playlist" and "_timeout" not in s["reply"]
    )
    assert [(i.uid, i.media.id) for i in (await r.state()).items] == [
        (i["uid"], i["media"]["id"]) for i in real
    ]
