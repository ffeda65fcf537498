"""What plays, read from the queue aggregate: likes arriving together share reads, and every
answer comes from a read that started after its caller asked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from application.likes.playing import QueueNowPlaying
from domain.media import Media
from domain.queue.state import QueueItem, QueueState


def playing(item_id: str | None) -> QueueState:
    items = (QueueItem("q1", 1, Media("yt", "a", "A", 60), False, "dj"),)
    return QueueState("lobby", items=items, now_playing=item_id)


class Handler:
    """The one call QueueNowPlaying makes of the command handler, held until released."""

    def __init__(self) -> None:
        self.reads = 0
        self.state_now = playing("q1")
        self.gate = asyncio.Event()
        self.sent = asyncio.Event()

    async def state(self, decider: Any, stream: Any) -> QueueState:
        self.reads += 1
        seen = self.state_now  # what the log held when this read was sent
        self.sent.set()
        await self.gate.wait()
        self.gate.clear()
        return seen


async def test_callers_share_reads_and_never_get_one_older_than_their_ask() -> None:
    handler = Handler()
    now = QueueNowPlaying(handler)  # type: ignore[arg-type]
    first = asyncio.create_task(now.playing("lobby"))  # read 1 goes out: q1 plays
    await handler.sent.wait()
    handler.state_now = playing(None)  # the item ends while read 1 is under way
    later = [asyncio.create_task(now.playing("lobby")) for _ in range(10)]
    await asyncio.sleep(0)
    handler.gate.set()  # read 1 answers
    answer = await first
    assert answer is not None and answer.item_id == "q1"
    await asyncio.sleep(0)
    handler.gate.set()  # read 2, sent after `later` asked: one for all ten, nothing plays
    assert await asyncio.wait_for(asyncio.gather(*later), 5) == [None] * 10
    assert handler.reads == 2


async def test_a_failed_read_fails_its_callers_and_the_next_ask_reads_again() -> None:
    class Failing(Handler):
        async def state(self, decider: Any, stream: Any) -> QueueState:
            self.reads += 1
            if self.reads == 1:
                raise RuntimeError("the log did not answer")
            return self.state_now

    handler = Failing()
    now = QueueNowPlaying(handler)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        await now.playing("lobby")
    again = await now.playing("lobby")
    assert again is not None and again.item_id == "q1"
