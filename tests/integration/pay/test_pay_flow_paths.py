"""The pay flow's recovery paths that only a lost report reaches, over the simulator.

Core NATS keeps nothing, so a report of what CyTube did can be lost while the thing itself
happened: an add that landed but whose `queue` event never came (and whose reply was lost too),
a delete that happened unseen, a delete that did not happen at all. Here the simulated channel
reports through `LossySink`, which drops the reports a test names, exactly as a gap in the
robot's events would; the flow has only its own reads of the playlist to find out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from adapters.sim.channel import SimulatedChannel
from adapters.sim.cytube import SimCytube
from application.cytube.observations import Observation
from application.cytube.observing import Observer
from application.cytube.port import AddOutcome, AddPosition
from domain.media import Media
from domain.queue.commands import ObserveItemDeleted, ObserveItemQueued
from tests.integration.pay.pay_world import PayWorld

P1 = Media("yt", "paid1", "Paid 1", 300)
COST = 250  # five minutes on the default price table


class LossySink:
    """The observer, except that the reports matching a predicate in `drops` never arrive
    (each predicate drops one report)."""

    def __init__(self, inner: Observer) -> None:
        self.inner = inner
        self.drops: list[Callable[[Observation], bool]] = []
        self.dropped: list[Observation] = []

    def drop_one(self, match: Callable[[Observation], bool]) -> None:
        self.drops.append(match)

    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        for match in self.drops:
            if match(observation):
                self.drops.remove(match)
                self.dropped.append(observation)
                return
        await self.inner.observe(channel, observation, observation_id=observation_id)


class CountingCytube(SimCytube):
    """The simulator's CyTube port, counting adds and deletes; `deaf_deletes` are accepted and
    not done (the robot answered, CyTube did nothing); `during_add` runs right after an add
    happened, before its reply (what else happens meanwhile)."""

    def __init__(self, sim: SimulatedChannel) -> None:
        super().__init__({"lobby": sim})
        self.adds = 0
        self.deletes = 0
        self.deaf_deletes = 0
        self.during_add: Callable[[], object] | None = None

    async def add(self, channel: str, media: Media, pos: AddPosition, temp: bool) -> AddOutcome:
        self.adds += 1
        outcome = await super().add(channel, media, pos, temp)
        if self.during_add is not None:
            hook, self.during_add = self.during_add, None
            await hook()  # type: ignore[misc]
        return outcome

    async def delete(self, channel: str, uid: int) -> None:
        self.deletes += 1
        if self.deaf_deletes > 0:
            self.deaf_deletes -= 1
            return
        await super().delete(channel, uid)


class LossyWorld(PayWorld):
    def __init__(self) -> None:
        super().__init__()
        self.lossy = LossySink(self.observer)
        self.sim = SimulatedChannel("lobby", self.clock, self.lossy)
        self.counting = CountingCytube(self.sim)
        self.cytube = self.cytube_port = self.counting


@pytest.fixture
async def world() -> AsyncIterator[LossyWorld]:
    w = LossyWorld()
    await w.seed()
    await w.ledger.grant("lobby", "ann", 10_000, "admin")
    w.start_flow()
    yield w
    await w.stop_flow()


async def removed_before_refunded(world: PayWorld, rid: str) -> bool:
    """Money goes back only for media that will not play: off the playlist first, then the
    refund, in the log's order."""
    kinds = [
        type(e).__name__
        for stored in await world.store.read_stream(world.store_stream())
        for e in stored.commit.events
        if getattr(e, "request_id", None) == rid
    ]
    assert kinds.count("PayItemRemoved") == kinds.count("PayItemRefunded") == 1, kinds
    return kinds.index("PayItemRemoved") < kinds.index("PayItemRefunded")


def queued(media_id: str) -> Callable[[Observation], bool]:
    return lambda o: isinstance(o, ObserveItemQueued) and o.media.id == media_id


def deleted(uid: int) -> Callable[[Observation], bool]:
    return lambda o: isinstance(o, ObserveItemDeleted) and o.uid == uid


async def test_an_add_that_landed_unseen_with_its_reply_lost_is_found_on_the_playlist(
    world: LossyWorld,
) -> None:
    world.lossy.drop_one(queued("paid1"))  # the robot's `queue` event never comes
    world.counting.lose_after_add(1)  # and the add's reply is lost: unknown outcome
    rid, _ = await world.request("ann", P1)
    pay = (await world.settled(rid)).pay_item(rid)
    assert world.lossy.dropped and not world.lossy.drops  # the report really was lost
    assert pay is not None and pay.placement == "positioned" and pay.payment == "captured"
    assert world.counting.adds == 1 and pay.add_attempts == 1
    assert world.playlist_ids().count("paid1") == 1  # found, not added twice
    assert await world.money("ann") == {"debited": [(rid, COST)], "refunded": []}


async def test_a_copy_queued_by_hand_meanwhile_is_attached_not_added_again(
    world: LossyWorld,
) -> None:
    await world.stop_flow()
    rid, _ = await world.request("ann", P1)
    await world.sim.add(P1)  # someone queues the same media by hand before the flow adds it
    world.start_flow()
    pay = (await world.settled(rid)).pay_item(rid)
    assert pay is not None and pay.placement == "positioned"
    assert world.counting.adds == 0 and pay.add_attempts == 0
    assert world.playlist_ids().count("paid1") == 1
    state = await world.state()
    item = state.by_id(pay.item_id)  # type: ignore[arg-type]
    assert item is not None and item.media == P1 and item.request_id == rid


async def test_a_cancel_while_the_add_is_in_flight_deletes_what_landed_then_refunds(
    world: LossyWorld,
) -> None:
    rid = "cancel-mid-add"

    async def cancel() -> None:
        await world.admin_cancel(rid)

    world.lossy.drop_one(queued("paid1"))  # the add lands, but we never hear of it
    world.counting.during_add = cancel  # the cancel comes while the add is in flight
    await world.request("ann", P1, request_id=rid)
    state = await world.until(lambda s: s.pay_item(rid).finished, "the refund")  # type: ignore[union-attr]
    pay = state.pay_item(rid)
    assert pay is not None and pay.cancel_reason == "admin_remove"
    assert world.lossy.dropped, "the add's report was not dropped: nothing was tested"
    # What landed was found on the playlist and taken off before the money went back.
    assert "paid1" not in world.playlist_ids()
    assert world.counting.deletes >= 1
    assert pay.refunded == COST and pay.placement == "removed"
    assert await world.money("ann") == {"debited": [(rid, COST)], "refunded": [(rid, COST)]}
    assert await removed_before_refunded(world, rid)


async def test_a_delete_that_did_not_take_is_sent_again_before_any_refund(
    world: LossyWorld,
) -> None:
    rid, _ = await world.request("ann", P1)
    await world.settled(rid)
    world.counting.deaf_deletes = 1
    await world.admin_cancel(rid)
    pay = (await world.until(lambda s: s.pay_item(rid).finished, "the refund")).pay_item(rid)  # type: ignore[union-attr]
    assert world.counting.deletes == 2 and world.counting.deaf_deletes == 0
    assert "paid1" not in world.playlist_ids()
    assert pay is not None and pay.placement == "removed" and pay.refunded == COST
    assert await world.money("ann") == {"debited": [(rid, COST)], "refunded": [(rid, COST)]}
    assert await removed_before_refunded(world, rid)


async def test_a_delete_that_happened_unseen_is_confirmed_by_reading_the_playlist(
    world: LossyWorld,
) -> None:
    rid, _ = await world.request("ann", P1)
    state = await world.settled(rid)
    item = state.by_id(state.pay_item(rid).item_id)  # type: ignore[arg-type, union-attr]
    assert item is not None
    world.lossy.drop_one(deleted(item.uid))  # CyTube deletes it; the report never comes
    await world.admin_cancel(rid)
    pay = (await world.until(lambda s: s.pay_item(rid).finished, "the refund")).pay_item(rid)  # type: ignore[union-attr]
    assert world.lossy.dropped and world.counting.deletes == 1  # read, not deleted again
    assert "paid1" not in world.playlist_ids()
    assert pay is not None and pay.placement == "removed" and pay.refunded == COST
    assert await world.money("ann") == {"debited": [(rid, COST)], "refunded": [(rid, COST)]}
    assert await removed_before_refunded(world, rid)
