"""A deposed owner cannot repeat a CyTube add.

Two instances' pay flows on one log: the old owner decided to add a purchase from what it held
in memory, and is stalled before its guard (`PayItemAddStarted`) reaches the log. Meanwhile the
lease lapsed and the new owner added the purchase and put it in place. When the old owner's
append finally lands it finds the same attempt already in the log (and the stream moved on): it
must not send the add.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from application.cytube.observing import Observer
from application.log.command_handler import CommandHandler
from application.log.ports import AppendResult, Commit, EventStore
from application.pay.flow import PayFlow
from domain.media import Media
from tests.integration.pay.pay_world import PayWorld
from tests.integration.pay.test_pay_flow_paths import CountingCytube

MEDIA = Media("yt", "paid-deposed", "Deposed owner", 300)


class StalledAdds:
    """The old owner's log: its first add guard waits at the door until let through."""

    def __init__(self, inner: EventStore) -> None:
        self._inner = inner
        self.at_door = asyncio.Event()
        self.let_through = asyncio.Event()
        self.landed: AppendResult | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        if commit.commit_id.endswith(":add:1") and self.landed is None:
            self.at_door.set()
            await self.let_through.wait()
            self.landed = await self._inner.append(commit, expected_position)
            return self.landed
        return await self._inner.append(commit, expected_position)


def flow(world: PayWorld, store: Any, cytube: CountingCytube) -> PayFlow:
    handler = CommandHandler(store, world.clock)  # an instance of its own: its own memory
    return PayFlow(
        handler,
        world.store,
        world.ledger,
        cytube,
        Observer(handler),
        world.clock,
        channels=["lobby"],
        config=world.config,
    )


async def until(check: Any, what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_deposed_owner_stalled_before_its_add_does_not_send_it() -> None:
    world = PayWorld()
    await world.seed()
    await world.ledger.grant("lobby", "ann", 10_000, "admin")
    old_log = StalledAdds(world.store)
    old_cytube, new_cytube = CountingCytube(world.sim), CountingCytube(world.sim)
    old = flow(world, old_log, old_cytube)
    old_task = asyncio.create_task(old.run())
    new_task: asyncio.Task[None] | None = None
    try:
        rid = await world.buy("ann", MEDIA, "playnext")
        await asyncio.wait_for(old_log.at_door.wait(), 20)  # decided to add, not yet recorded

        new = flow(world, world.store, new_cytube)  # the lease lapsed: the next owner runs
        new_task = asyncio.create_task(new.run())
        await world.settled(rid, within=20)
        assert new_cytube.adds == 1
        assert (await world.pay(rid)).placement == "positioned"

        old_log.let_through.set()  # the old owner wakes up
        await until(lambda: old_log.landed is not None, "the old owner's append")
        await until(lambda: old.in_flight == 0, "the old owner to let the purchase go")
        assert old_log.landed is not None and old_log.landed.duplicate
        assert old_cytube.adds == 0, "the deposed owner sent the add again"
        assert world.playlist_ids().count(MEDIA.id) == 1
        money = await world.money("ann")
        assert money == {"debited": [(rid, 250)], "refunded": []}
    finally:
        for task in (old_task, new_task):
            if task is not None:
                task.cancel()
        await asyncio.gather(old_task, *([new_task] if new_task else []), return_exceptions=True)
