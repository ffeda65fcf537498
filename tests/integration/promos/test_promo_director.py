"""The promo director over the simulator: promos really land in CyTube, in the right places."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from application.cytube.pacing import AddPacer
from application.log.command_handler import CommandMeta
from application.log.streams import promo_config_stream, queue_stream
from application.promos.director import PromoDirector
from domain.media import Media
from domain.promos.config import GeneralCadence, PromoConfig, SetPromoConfig, promo_config_decider
from domain.queue.decider import queue_decider
from domain.queue.pay_model import LockQueue
from domain.queue.promo_model import PromoChosen
from tests.integration.pay.pay_world import PayWorld

POOLS = {
    "channel_identity": (Media("yt", "ident0", "Ident A", 8), Media("yt", "ident1", "Ident B", 8)),
    "event": (Media("yt", "event0", "Event A", 10),),
    "mod_shoutout": (Media("yt", "shout0", "Shout A", 9), Media("yt", "shout1", "Shout B", 9)),
    "feature_presentation": (Media("yt", "fp0", "Feature", 6), Media("yt", "fp1", "Feature B", 6)),
    "viewers_choice": (Media("yt", "vc0", "Viewer's Choice", 5), Media("yt", "vc1", "VC B", 5)),
}
PROMO_IDS = {m.id for pool in POOLS.values() for m in pool}


class Directed(PayWorld):
    def __init__(self) -> None:
        super().__init__(speed=300.0)
        self.director: PromoDirector | None = None
        self._director_task: asyncio.Task[None] | None = None

    async def pools(self, channel: str):  # type: ignore[no-untyped-def]
        return POOLS

    def start_director(self) -> PromoDirector:
        self.director = PromoDirector(
            self.handler,
            self.store,
            self.cytube,
            self.observer,
            self.clock,
            self.pools,
            channels=["lobby"],
            pacer=AddPacer(self.clock, 0.5),
            confirm_timeout_sec=5,
            rng=random.Random(5),
        )
        self._director_task = asyncio.create_task(self.director.run())
        return self.director

    async def stop_director(self) -> None:
        if self._director_task is not None:
            self._director_task.cancel()
            await asyncio.gather(self._director_task, return_exceptions=True)

    async def configure(self, config: PromoConfig) -> None:
        await self.handler.handle(
            promo_config_decider,
            promo_config_stream("lobby"),
            SetPromoConfig(config, "admin"),
            CommandMeta.new("admin"),
        )


@pytest.fixture
async def world() -> AsyncIterator[Directed]:
    w = Directed()
    for n, minutes in enumerate([3, 4, 97, 5, 3, 6, 2, 4]):
        await w.sim.add(Media("yt", f"c{n}", f"Content {n}", minutes * 60))
    await w.ledger.grant("lobby", "ann", 10_000, "admin")
    await w.sim.join("ann")
    await w.configure(PromoConfig(general=GeneralCadence(every_n_items=2, every_m_minutes=60)))
    w.start_flow()
    w.start_director()
    yield w
    await w.stop_director()
    await w.stop_flow()


def upcoming(w: PayWorld) -> list[str]:
    items = w.sim.playlist()
    current = w.sim.current_uid
    index = next((i for i, item in enumerate(items) if item.uid == current), -1)
    return [i.media.id for i in items[index + 1 :] + items[: index + 1]]


async def test_lead_ins_and_general_promos_land_in_stacked_order(world: Directed) -> None:
    rid, _ = await world.request("ann", Media("yt", "paid1", "Paid pick", 300), "playnext")
    await world.until(
        lambda s: any(
            p.promo_type == "viewers_choice" and p.placement == "positioned" for p in s.promos
        ),
        "Viewer's Choice in front of the paid item",
    )
    order = upcoming(world)
    paid = order.index("paid1")
    assert order[paid - 1].startswith("vc"), order
    state = await world.state()
    vc = next(p for p in state.promos if p.promo_type == "viewers_choice")
    assert state.by_id(vc.item_id).lead_in_for == (await world.pay(rid)).item_id  # type: ignore[union-attr]

    # An admin cancels the purchase: its Viewer's Choice goes with it.
    await world.admin_cancel(rid)
    await world.until(
        lambda s: (s.pay_item(rid) or vc).finished if s.pay_item(rid) else True, "refund"
    )  # type: ignore[union-attr]
    await world.until(
        lambda s: (
            next(p for p in s.promos if p.promo_id == vc.promo_id).placement
            in ("cancelled", "done")
        ),
        "the lead-in cancelled",
    )
    for _ in range(200):
        if vc.media.id not in world.playlist_ids():
            break
        await asyncio.sleep(0.01)
    assert vc.media.id not in world.playlist_ids()


async def test_over_simulated_hours_promos_follow_the_cadence_and_replay_the_same(
    world: Directed,
) -> None:
    playback = asyncio.create_task(world.sim.run())
    try:
        world.clock.set_speed(2000)
        target = world.clock.now().timestamp() + 2 * 3600
        while world.clock.now().timestamp() < target:  # noqa: ASYNC110 (virtual time)
            await asyncio.sleep(0.05)
    finally:
        playback.cancel()
        await asyncio.gather(playback, return_exceptions=True)
    state = await world.state()
    played = [p for p in state.promos if p.placement == "done"]
    general = [p for p in played if p.role == "general"]
    fp = [p for p in state.promos if p.promo_type == "feature_presentation"]
    assert general, "general promos played"
    assert fp and all(p.target_item_id == "q3" for p in fp), "FP only before the 97-minute item"
    on_list = [i for i in world.sim.playlist() if i.media.id in PROMO_IDS]
    assert len(on_list) <= 3, "temp promos never pile up"
    replayed = queue_decider.fold(
        "lobby",
        [e for c in await world.store.read_stream(queue_stream("lobby")) for e in c.commit.events],
    )
    assert [(p.promo_id, p.media.id, p.target_item_id) for p in replayed.promos] == [
        (p.promo_id, p.media.id, p.target_item_id) for p in state.promos
    ]


async def test_nothing_is_inserted_while_the_lock_is_on(world: Directed) -> None:
    await world.stop_director()
    await world.handler.handle(
        queue_decider,
        queue_stream("lobby"),
        LockQueue("Marathon", None, "admin"),
        CommandMeta.new("admin"),
    )
    before = await world.store.head()
    world.start_director()
    for _ in range(6):  # content plays on, and a movie comes up
        await world.sim.skip()
        await asyncio.sleep(0.05)
    chosen = [
        e
        for c in await world.store.read_stream(queue_stream("lobby"), after=before)
        for e in c.commit.events
        if isinstance(e, PromoChosen)
    ]
    assert chosen == []
    assert world.director is not None and world.director.inserted == 0
