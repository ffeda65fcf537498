""" "No repeats" refuses a medium the moment it has played: the decision reads the start from the
queue's own log, not from a read model that trails it. No projection runs here at all, so a
rule that waited for one would let the second purchase through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from application.rules.service import RulesService
from domain.errors import Rejected
from domain.media import Media
from domain.queue.pay_model import PayItemPlaying
from domain.rules.config import RulesConfig
from tests.integration.pay.pay_world import PayWorld

SONG = Media("yt", "song-1", "Song", 120)


@pytest.fixture
async def world() -> AsyncIterator[PayWorld]:
    w = PayWorld(speed=50.0)
    await w.seed(3)
    for user in ("ann", "bob"):
        await w.ledger.grant("lobby", user, 10_000, "admin")
    w.rules = RulesService(
        w.handler, defaults=RulesConfig(max_pending_per_viewer=None, no_repeat_hours=2)
    )
    w.start_flow()
    yield w
    await w.stop_flow()


async def test_the_same_media_is_refused_right_after_it_played(world: PayWorld) -> None:
    first = await world.buy("ann", SONG, "playnext")
    await world.settled(first)
    paid = next(i for i in world.sim.playlist() if i.media.id == SONG.id)
    await world.sim.jump(paid.uid)
    state = await world.until(
        lambda s: s.pay_item(first).placement == "playing",  # type: ignore[union-attr]
        "the purchase playing",
    )
    started = state.playing_since
    assert started is not None
    await world.sim.skip()  # it played; the next item is on, and the paid one leaves
    await world.until(
        lambda s: all(i.media.id != SONG.id for i in s.items), "the paid item off the playlist"
    )
    playing = [
        e
        for c in await world.store.read_stream(world.store_stream())
        for e in c.commit.events
        if isinstance(e, PayItemPlaying)
    ]
    assert len(playing) == 1  # it did play, once

    with pytest.raises(Rejected) as refused:
        await world.buy("bob", SONG)
    assert refused.value.code == "rule_repeat", refused.value.message
    assert refused.value.extra["retry_at"] == (started + timedelta(hours=2)).isoformat()
    # Another medium goes through, and so does this one once the window has passed.
    await world.settled(await world.buy("bob", Media("yt", "song-2", "Other", 120)))
    world.clock.advance(2 * 3600)
    await world.settled(await world.buy("bob", SONG))
