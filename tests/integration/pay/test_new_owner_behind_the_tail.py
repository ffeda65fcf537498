"""A new owner's pay flow takes up every purchase in the log, even while its log tail lags.

The flow starts (the channel's lease just taken) by resuming what is in flight, then follows
the log after the head it read. Its handler's cached queue state is only as current as the
shared tail: when the tail lags the log (a loaded machine, a burst at the handover), a purchase
requested through another instance just before the takeover is in neither, so nothing would
ever drive it (a rolling restart under load once left one short of "at rest"). The resume must
read the log itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from application.cytube.observing import Observer
from application.log.command_handler import CommandHandler
from application.log.ports import EventStore, StoredCommit, release
from application.log.streams import queue_stream
from application.log.tail import LogTail
from application.pay.flow import PayFlow
from domain.media import Media
from domain.queue.decider import queue_decider
from tests.integration.pay.pay_world import PayWorld

MEDIA = Media("yt", "paid-behind", "Bought at the handover", 300)


class HeldTail:
    """The log underneath a tail, whose whole-log subscription can be held (the tail lags)."""

    def __init__(self, inner: EventStore) -> None:
        self._inner = inner
        self.flowing = asyncio.Event()
        self.flowing.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def subscribe(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        commits = self._inner.subscribe(after, channel)
        try:
            async for stored in commits:
                await self.flowing.wait()
                yield stored
        finally:
            await release(commits)


async def test_a_purchase_the_lagging_tail_has_not_read_is_driven_by_the_new_owner() -> None:
    world = PayWorld()
    await world.seed()
    await world.ledger.grant("lobby", "alice", 5_000, by="boss")
    held = HeldTail(world.store)
    tail = LogTail(held)  # type: ignore[arg-type]
    follower = tail.subscribe(0)
    reading = asyncio.create_task(anext(follower))  # the tail reads while someone follows
    handler = CommandHandler(tail, world.clock)  # the new owner's, with its own memory
    await asyncio.sleep(0.05)
    await handler.current(queue_decider, queue_stream("lobby"))  # its cache, verified current

    held.flowing.clear()  # the tail falls behind ...
    rid = await world.buy("alice", MEDIA)  # ... as another instance takes a purchase
    flow = PayFlow(
        handler,
        tail,
        world.ledger,
        world.cytube,
        Observer(handler),
        world.clock,
        channels=["lobby"],
        config=world.config,
    )
    running = asyncio.create_task(flow.run())
    try:
        await asyncio.sleep(0.3)
        held.flowing.set()  # the tail catches up later: the purchase's events are old by then
        await world.settled(rid, within=10)
        pay = await world.pay(rid)
        assert pay.payment == "captured" and pay.placement in ("positioned", "playing")
    finally:
        await flow.stop()
        running.cancel()
        reading.cancel()
        await asyncio.gather(running, reading, return_exceptions=True)
        await release(follower)
        await tail.close()
