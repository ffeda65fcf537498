"""Applying a saved playlist over the simulated channel, with the pay flow running: each mode,
transient and permanent failures, a second apply refused, roles per mode, and a crash in the
middle of an apply (no item added twice, no refund lost)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import pytest

from adapters.sql.projection_store import SqlProjectionStore
from application.cytube.observing import Observer
from application.identity.roles import Forbidden, Identity
from application.log.command_handler import CommandHandler
from application.log.ports import EventStore
from application.playlists.apply import ApplyConfig, ApplyStatus, PlaylistApplier
from application.playlists.service import PlaylistService
from domain.errors import Rejected
from domain.media import Media
from tests.integration.pay.pay_world import PayWorld
from tests.integration.pay.test_pay_flow_crashes import Fuse, FusedStore, Through

ADMIN = Identity("boss", "admin")
MOD = Identity("mod", "blessed")
VIEWER = Identity("ann", "viewer")
FAST = ApplyConfig(
    playlist_bulk_add_delay_sec=0.5,
    playlist_bulk_add_max_retries=2,
    confirm_timeout_sec=2.0,
    retry_delay_sec=0.5,
)


def show(n: int) -> Media:
    return Media("yt", f"show{n}", f"Show S01E{n:02d}", 1200)


class ApplyWorld(PayWorld):
    def __init__(self, tmp: Any, config: ApplyConfig = FAST) -> None:
        super().__init__(speed=50.0)  # a 600 s item plays 12 real seconds
        self.read = SqlProjectionStore(f"sqlite+aiosqlite:///{tmp / 'read.db'}")
        self.playlists = PlaylistService(self.handler, self.read, self.clock)
        self.apply_config = config
        self.applier: PlaylistApplier | None = None
        self._apply_task: asyncio.Task[None] | None = None

    def start_applier(
        self, *, store: EventStore | None = None, cytube: Any = None
    ) -> PlaylistApplier:
        """A fresh manager over a fresh handler: what a restarted process has."""
        handler = CommandHandler(store or self.store, self.clock)
        self.applier = PlaylistApplier(
            handler,
            self.store,
            cytube or self.cytube,
            Observer(handler),
            self.clock,
            PlaylistService(handler, self.read, self.clock),
            channels=["lobby"],
            config=self.apply_config,
        )
        self._apply_task = asyncio.create_task(self.applier.run())
        return self.applier

    async def stop_applier(self) -> None:
        if self.applier is not None:
            await self.applier.stop()
        if self._apply_task is not None:
            self._apply_task.cancel()
            await asyncio.gather(self._apply_task, return_exceptions=True)
        self.applier = self._apply_task = None

    async def saved(self, *media: Media, name: str = "Marathon") -> str:
        made = await self.playlists.create("lobby", MOD, name, items=list(media))
        return made.playlist_id

    async def finished(self, apply_id: str, within: float = 15.0) -> ApplyStatus:
        deadline = time.monotonic() + within
        while True:
            assert self.applier is not None
            status = await self.applier.status("lobby", MOD, apply_id)
            if status.status != "running":
                return status
            assert time.monotonic() < deadline, f"apply still running: {status}"
            await asyncio.sleep(0.02)


@pytest.fixture
async def world(tmp_path: Any) -> Any:
    w = ApplyWorld(tmp_path)
    await w.read.prepare()
    await w.seed(3)  # content0 plays, content1 and content2 wait
    yield w
    await w.stop_applier()
    await w.stop_flow()
    await w.read.close()


async def test_preserve_current_keeps_now_playing_and_replaces_the_rest(world: ApplyWorld) -> None:
    playing = world.sim.current_uid
    pid = await world.saved(show(1), show(2), show(3))
    applier = world.start_applier()
    started = await applier.start("lobby", MOD, pid)
    assert started.mode == "preserve_current" and started.status == "running"
    done = await world.finished(started.apply_id)
    assert (done.status, done.queued, done.failed, done.removed) == ("done", 3, 0, 2)
    assert world.playlist_ids() == ["content0", "show1", "show2", "show3"]
    assert world.sim.current_uid == playing


async def test_append_keeps_the_queue(world: ApplyWorld) -> None:
    pid = await world.saved(show(1), show(2))
    applier = world.start_applier()
    done = await world.finished((await applier.start("lobby", MOD, pid, "append")).apply_id)
    assert (done.queued, done.removed) == (2, 0)
    assert world.playlist_ids() == ["content0", "content1", "content2", "show1", "show2"]


async def test_hard_replace_takes_now_playing_too_and_refunds_displaced_purchases(
    world: ApplyWorld,
) -> None:
    await world.ledger.grant("lobby", "ann", 10_000, "admin")
    world.start_flow()
    rid, _ = await world.request("ann", Media("yt", "paid1", "Paid", 300))
    await world.settled(rid)
    assert "paid1" in world.playlist_ids()
    pid = await world.saved(show(1), show(2))
    applier = world.start_applier()
    done = await world.finished((await applier.start("lobby", ADMIN, pid, "hard_replace")).apply_id)
    assert done.displaced_purchases == [rid] and done.queued == 2
    assert world.playlist_ids() == ["show1", "show2"]
    pay = (await world.settled(rid)).pay_item(rid)
    assert pay is not None and pay.payment == "refunded"
    assert pay.cancel_reason == "replaced_by_playlist"
    money = await world.money("ann")
    assert [r for r, _ in money["refunded"]] == [rid]


async def test_transient_failures_are_retried_and_a_permanent_one_stops_only_its_item(
    world: ApplyWorld,
) -> None:
    pid = await world.saved(show(1), show(2), show(3), show(4))
    applier = world.start_applier()
    world.cytube.fail_adds(2, transient=True)  # show1 needs a third try: within the budget
    started = await applier.start("lobby", MOD, pid, "append")
    await world.until(lambda s: "show1" in [i.media.id for i in s.items], "show1 added")
    world.cytube.fail_adds(1, transient=False, error="Invalid manifest")  # show2 is refused
    done = await world.finished(started.apply_id)
    by_id = {i.media_id: i for i in done.items}
    assert (by_id["show1"].status, by_id["show1"].attempts) == ("queued", 3)
    assert (by_id["show2"].status, by_id["show2"].reason) == ("failed", "refused")
    assert by_id["show2"].detail == "Invalid manifest"
    assert [f.media_id for f in done.failures] == ["show2"]
    assert by_id["show3"].status == by_id["show4"].status == "queued"
    assert world.playlist_ids()[-3:] == ["show1", "show3", "show4"]


async def test_transient_failures_beyond_the_budget_fail_the_item(world: ApplyWorld) -> None:
    pid = await world.saved(show(1), show(2))
    applier = world.start_applier()
    world.cytube.fail_adds(3, transient=True)  # 1 try + 2 retries, all refused
    done = await world.finished((await applier.start("lobby", MOD, pid, "append")).apply_id)
    first = done.items[0]
    assert (first.status, first.reason, first.attempts) == ("failed", "add_failed", 3)
    assert done.items[1].status == "queued"


async def test_an_add_with_no_answer_is_looked_for_before_it_is_tried_again(
    world: ApplyWorld,
) -> None:
    pid = await world.saved(show(1), show(2))
    applier = world.start_applier()
    world.cytube.lose_after_add(1)  # show1 is added, the answer lost
    done = await world.finished((await applier.start("lobby", MOD, pid, "append")).apply_id)
    assert [(i.status, i.attempts) for i in done.items] == [("queued", 1), ("queued", 1)]
    assert Counter(world.playlist_ids())["show1"] == 1


async def test_a_second_apply_is_refused_with_the_running_ones_id(world: ApplyWorld) -> None:
    pid = await world.saved(*(show(n) for n in range(1, 6)))
    applier = world.start_applier()
    first = await applier.start("lobby", MOD, pid, "append")
    with pytest.raises(Rejected) as refused:
        await applier.start("lobby", ADMIN, pid, "append")
    assert refused.value.code == "apply_running"
    assert refused.value.extra["running_apply_id"] == first.apply_id
    assert first.apply_id in refused.value.message
    await world.finished(first.apply_id)
    again = await applier.start("lobby", MOD, pid, "preserve_current")  # free again
    await world.finished(again.apply_id)


async def test_who_may_use_which_mode(world: ApplyWorld, tmp_path: Any) -> None:
    pid = await world.saved(show(1))
    applier = world.start_applier()
    with pytest.raises(Forbidden):
        await applier.start("lobby", VIEWER, pid, "append")
    with pytest.raises(Forbidden) as refused:
        await applier.start("lobby", MOD, pid, "hard_replace")
    assert refused.value.code == "mode_not_allowed"
    assert [(m.mode, m.allowed) for m in applier.modes(MOD)] == [
        ("preserve_current", True),
        ("append", True),
        ("hard_replace", False),
    ]
    assert all(m.allowed for m in applier.modes(ADMIN))
    assert not any(m.allowed for m in applier.modes(VIEWER))
    await world.stop_applier()
    world.apply_config = ApplyConfig(
        playlist_bulk_add_delay_sec=0.2, hard_replace_for_blessed=True, confirm_timeout_sec=2.0
    )
    applier = world.start_applier()
    assert applier.modes(MOD)[2].allowed
    done = await world.finished((await applier.start("lobby", MOD, pid, "hard_replace")).apply_id)
    assert done.queued == 1 and world.playlist_ids() == ["show1"]
    with pytest.raises(Rejected) as bad:
        await applier.start("lobby", MOD, pid, "shuffle")  # type: ignore[arg-type]
    assert bad.value.code == "invalid_mode"


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("at", [2, 4, 6, 8, 9, 10, 11, 12, 14])
async def test_a_crash_mid_apply_adds_nothing_twice_and_loses_no_refund(
    world: ApplyWorld, at: int, when: str
) -> None:
    await world.ledger.grant("lobby", "ann", 10_000, "admin")
    world.start_flow()
    rid, _ = await world.request("ann", Media("yt", "paid1", "Paid", 300))
    await world.settled(rid)
    pid = await world.saved(*(show(n) for n in range(1, 7)))
    fuse = Fuse(at, when)
    store = FusedStore(world.store, fuse, set())
    applier = world.start_applier(
        store=store,  # type: ignore[arg-type]
        cytube=Through(world.cytube, fuse, {"add", "delete", "playlist"}),
    )
    started = await applier.start("lobby", ADMIN, pid, "preserve_current")
    with contextlib.suppress(AssertionError):  # it dies part-way, as intended
        await world.finished(started.apply_id, within=3)
    assert fuse.calls >= at  # the fuse did blow
    await world.stop_applier()
    world.start_applier()  # the restart: nothing but the log and the channel
    done = await world.finished(started.apply_id)
    ids = world.playlist_ids()
    assert Counter(ids).most_common(1)[0][1] == 1, ids  # nothing twice
    assert ids == ["content0", *(f"show{n}" for n in range(1, 7))]
    assert done.queued == 6 and done.failed == 0
    pay = (await world.settled(rid)).pay_item(rid)
    assert pay is not None and pay.payment == "refunded"
    assert [r for r, _ in (await world.money("ann"))["refunded"]] == [rid]  # once
