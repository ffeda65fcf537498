"""Every way a promo can fail, over the simulator: a promo is free, so a failure drops it (and
takes off whatever of it landed), records why, and never stops the director.

The channel plays 10-minute items with a 97-minute feature third; one skip makes the feature
next, so the director chooses one Feature Presentation for it (the general cadence is set too
far off to fire). Channel time runs 30x: the feature starts only after ten channel minutes, far
beyond any of the director's waits, so nothing here races the target starting.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.sim.channel import SimulatedChannel
from adapters.sim.cytube import SimCytube
from application.log.command_handler import CommandMeta
from application.log.streams import queue_stream
from domain.errors import Rejected
from domain.media import Media
from domain.promos.config import GeneralCadence, PromoConfig
from domain.queue.decider import queue_decider
from domain.queue.promo_model import FailPromo, PromoCancelled, PromoInsert
from domain.queue.state import QueueState
from tests.integration.pay.test_pay_flow_paths import LossySink, queued
from tests.integration.promos.test_promo_director import PROMO_IDS, Directed

SPEED = 30.0
FAR = GeneralCadence(every_n_items=50, every_m_minutes=600)


class Quiet(Directed):
    def __init__(self) -> None:
        super().__init__()
        self.clock.set_speed(SPEED)
        self.lossy = LossySink(self.observer)
        self.sim = SimulatedChannel("lobby", self.clock, self.lossy)
        self.cytube = self.cytube_port = SimCytube({"lobby": self.sim})

    async def feature_promo(self, done: tuple[str, ...], within: float = 15.0) -> PromoInsert:
        """The Feature Presentation, once its placement is one of `done`."""

        def settled(state: QueueState) -> bool:
            fp = [p for p in state.promos if p.promo_type == "feature_presentation"]
            return bool(fp) and fp[0].placement in done

        state = await self.until(settled, f"the Feature Presentation {done}", within)
        return next(p for p in state.promos if p.promo_type == "feature_presentation")

    async def promo_events(self) -> Counter[str]:
        stream = await self.store.read_stream(queue_stream("lobby"))
        return Counter(
            type(e).__name__ + (f":{e.reason}" if isinstance(e, PromoCancelled) else "")
            for c in stream
            for e in c.commit.events
            if type(e).__name__.startswith("Promo") and type(e).__name__ != "PromoCadenceStarted"
        )

    def promos_on_playlist(self) -> list[str]:
        return [m for m in self.playlist_ids() if m in PROMO_IDS]


@pytest.fixture
async def world() -> AsyncIterator[Quiet]:
    w = Quiet()
    for n, minutes in enumerate([10, 10, 97, 10]):
        await w.sim.add(Media("yt", f"c{n}", f"Content {n}", minutes * 60))
    await w.configure(PromoConfig(general=FAR))
    yield w
    await w.stop_director()


async def start(world: Quiet) -> None:
    world.start_director()
    await world.sim.skip()  # the feature is next: its Feature Presentation is due


async def test_a_promo_cytube_refuses_is_dropped_at_once_not_retried(world: Quiet) -> None:
    world.cytube.fail_adds(100, transient=False)
    await start(world)
    fp = await world.feature_promo(("cancelled",))
    assert fp.add_attempts == 1
    await asyncio.sleep(0.2)  # and it is not chosen again and again
    assert await world.promo_events() == Counter(
        {"PromoChosen": 1, "PromoAddStarted": 1, "PromoCancelled:add_failed": 1}
    )
    assert world.promos_on_playlist() == []
    assert world.director is not None and world.director.inserted == 0


async def test_a_promo_whose_adds_keep_failing_is_dropped_once_its_retries_are_spent(
    world: Quiet,
) -> None:
    world.cytube.fail_adds(100, transient=True)
    await start(world)
    fp = await world.feature_promo(("cancelled",))
    assert fp.add_attempts == 4  # the first try and 3 retries
    events = await world.promo_events()
    assert events["PromoAddStarted"] == 4 and events["PromoCancelled:add_failed"] == 1
    assert world.promos_on_playlist() == []
    world.cytube.fail_adds(0)
    await world.sim.add(Media("yt", "later", "Later", 600))  # a change: a direction pass
    await asyncio.sleep(0.3)
    assert (await world.promo_events())["PromoChosen"] == 1  # not tried again for the feature


async def test_a_promo_that_will_not_move_is_dropped_and_taken_off(world: Quiet) -> None:
    world.cytube.drop_moves(100)
    await start(world)
    fp = await world.feature_promo(("cancelled",))
    assert fp.item_id is not None  # it landed, attached, and would not go into its slot
    for _ in range(200):  # taken off CyTube again
        if fp.media.id not in world.playlist_ids():
            break
        await asyncio.sleep(0.01)
    assert world.promos_on_playlist() == []
    await asyncio.sleep(0.3)  # the delete is a change on the queue: a direction pass follows
    # ... and the feature is not given another Feature Presentation to fail the same way (an
    # add, three moves and a delete, over and over, until the feature started).
    assert await world.promo_events() == Counter(
        {
            "PromoChosen": 1,
            "PromoAddStarted": 1,
            "PromoAttached": 1,
            "PromoCancelled:move_failed": 1,
        }
    )
    assert world.promos_on_playlist() == []


async def test_a_promo_waits_out_cytube_being_down_then_lands_in_its_slot(
    world: Quiet,
) -> None:
    world.cytube.unavailable(3)
    await start(world)
    fp = await world.feature_promo(("positioned",))
    order = world.playlist_ids()
    assert order[order.index(fp.media.id) + 1] == "c2"  # right before the feature
    assert world.promos_on_playlist() == [fp.media.id]
    assert "PromoCancelled" not in str(await world.promo_events())


async def test_a_promo_add_that_landed_unseen_is_found_not_added_twice(world: Quiet) -> None:
    world.lossy.drop_one(queued("fp0"))
    world.lossy.drop_one(queued("fp1"))  # whichever clip is drawn, its `queue` report is lost
    await start(world)
    fp = await world.feature_promo(("positioned",))
    assert world.lossy.dropped, "no report was dropped: nothing was tested"
    assert fp.add_attempts == 1
    assert world.promos_on_playlist() == [fp.media.id]


async def test_fail_promo_drops_an_active_promo_once_and_refuses_an_unknown_one(
    world: Quiet,
) -> None:
    world.cytube.drop_moves(100)
    await start(world)
    fp = await world.feature_promo(("cancelled",))

    async def fail(promo_id: str) -> tuple[object, ...]:
        outcome = await world.handler.handle(
            queue_decider,
            queue_stream("lobby"),
            FailPromo(promo_id, "add_failed"),
            CommandMeta.new("promo-director"),
        )
        return tuple(outcome.events)

    assert await fail(fp.promo_id) == ()  # already dropped: nothing more
    with pytest.raises(Rejected) as refused:
        await fail("p-nope")
    assert refused.value.code == "unknown_promo"
    assert (await world.promo_events())["PromoCancelled:move_failed"] == 1


async def test_a_clip_that_lands_after_its_feature_started_is_taken_off(world: Quiet) -> None:
    """CyTube is slow to look the Feature Presentation's clip up; the feature starts first
    (`target_started`), then the clip lands. It is the cancelled promo's and comes off: it
    must not stay on the playlist as content (it blocked the next lead-in)."""
    release = asyncio.Event()
    sent = asyncio.Event()
    add = world.cytube.add

    async def slow_add(*args: Any, **kwargs: Any) -> Any:
        sent.set()
        await release.wait()
        return await add(*args, **kwargs)

    world.cytube.add = slow_add  # type: ignore[method-assign]
    await start(world)
    await asyncio.wait_for(sent.wait(), 15)
    await world.sim.skip()  # the feature starts while the clip is still being looked up
    fp = await world.feature_promo(("cancelled",))
    assert (await world.promo_events())["PromoCancelled:target_started"] == 1
    release.set()
    deadline = asyncio.get_running_loop().time() + 20
    while (await world.promo_events())["PromoAttached"] == 0 or world.promos_on_playlist():
        assert asyncio.get_running_loop().time() < deadline, (
            f"{fp.media.id}: {world.playlist_ids()}, {await world.promo_events()}"
        )
        await asyncio.sleep(0.05)
    state = await world.handler.state(queue_decider, queue_stream("lobby"))
    assert state.current is not None and state.current.media.id == "c2"  # the feature plays on
