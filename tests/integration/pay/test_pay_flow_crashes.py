"""A crash between any two steps of the pay flow: the restarted flow finishes the purchase once.

Every side effect the flow makes (economy calls, CyTube calls, appends to the log) passes
through one counter; the flow is killed just before or just after the k-th, and a fresh flow
(fresh handler, fresh memory) resumes from the log alone.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from application.log.ports import Commit
from domain.media import Media
from tests.integration.pay.pay_world import PayWorld

MEDIA = Media("yt", "paid-crash", "Crash test", 300)


class Crash(Exception):
    """The process dies here."""


class Fuse:
    def __init__(self, at: int, when: str) -> None:
        self.at, self.when, self.calls = at, when, 0

    async def __call__(self, call: Any) -> Any:
        self.calls += 1
        if self.calls == self.at and self.when == "before":
            raise Crash(f"before side effect {self.at}")
        result = await call()
        if self.calls == self.at and self.when == "after":
            raise Crash(f"after side effect {self.at}")
        return result


class Through:
    """Wraps a port so each of its calls goes through the fuse."""

    def __init__(self, inner: Any, fuse: Fuse, methods: set[str]) -> None:
        self._inner, self._fuse, self._methods = inner, fuse, methods

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in self._methods:
            return target

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            return await self._fuse(lambda: target(*args, **kwargs))

        return guarded


class FusedStore(Through):
    async def append(self, commit: Commit, expected_position: int) -> Any:
        return await self._fuse(lambda: self._inner.append(commit, expected_position))


async def run_with_crash(at: int, when: str) -> tuple[PayWorld, Fuse, str]:
    world = PayWorld()
    await world.seed()
    await world.ledger.grant("lobby", "ann", 10_000, "admin")
    fuse = Fuse(at, when)
    world.start_flow(
        store=FusedStore(world.store, fuse, set()),  # type: ignore[arg-type]
        economy=Through(world.ledger, fuse, {"spend", "refund"}),  # type: ignore[arg-type]
        cytube=Through(world.cytube, fuse, {"add", "move", "delete", "playlist"}),  # type: ignore[arg-type]
    )
    rid, _ = await world.request("ann", MEDIA, "playnext")
    with contextlib.suppress(AssertionError):  # it crashed mid-way, as intended
        await world.settled(rid, within=3)
    await world.stop_flow()
    world.start_flow()  # the restart: nothing but the log and the outside world
    await world.settled(rid)
    await world.stop_flow()
    return world, fuse, rid


async def clean_run_side_effects() -> int:
    _, fuse, _ = await run_with_crash(at=0, when="after")
    return fuse.calls


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_crash_at_any_step_is_resumed_exactly_once(when: str) -> None:
    steps = await clean_run_side_effects()
    assert steps >= 5, "spend, record, add, attach/slot and move at the least"
    for at in range(1, steps + 1):
        world, fuse, rid = await run_with_crash(at, when)
        assert fuse.calls >= at, f"crash point {at} was never reached"
        pay = await world.pay(rid)
        assert pay.placement == "positioned", f"crash {when} step {at}: {pay}"
        assert pay.payment == "captured" and pay.add_attempts >= 1
        money = await world.money("ann")
        assert money == {"debited": [(rid, 250)], "refunded": []}, f"crash {when} step {at}"
        assert world.playlist_ids().count(MEDIA.id) == 1, f"crash {when} step {at}"
        assert world.playlist_ids()[1] == MEDIA.id
