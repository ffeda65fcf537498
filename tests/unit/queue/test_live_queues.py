"""LiveQueues: one frame per change shared by every watcher, a one-slot mailbox per watcher, and
a first frame that is never older than a change announced while it was being read."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

import application.queue.live as live_module
from application.projections.ports import Write
from application.queue.live import LiveQueues
from application.queue.shadow import CHANNELS, ITEMS, rows_for
from application.queue.view import QueueQueries
from domain.media import Media
from domain.queue.state import QueueItem, QueueState

NOW = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


def state(*titles: str) -> QueueState:
    items = tuple(
        QueueItem(f"q{i}", i, Media("yt", f"m{i}", t, 60), False, "ann", "content", None)
        for i, t in enumerate(titles, 1)
    )
    return QueueState(
        channel="lobby",
        items=items,
        now_playing=items[0].item_id if items else None,
        now_playing_uid=items[0].uid if items else None,
        playing_since=NOW,
    )


class Shadow:
    """What LiveQueues needs of the projection: the rows its last flush made."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}

    def fold(self, channel: str, s: QueueState, position: int) -> None:
        self.rows[channel] = rows_for(channel, s, position)

    def flushed_rows(self, channel: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        return self.rows.get(channel)


class Rows:
    """A projection store holding the rows of one state; `hold` makes reads wait."""

    def __init__(self, channel_row: dict[str, Any] | None, items: list[dict[str, Any]]) -> None:
        self.channel_row, self.items, self.position = channel_row, items, 1
        self.hold: asyncio.Event | None = None

    async def checkpoint(self, name: str) -> int:
        return self.position

    async def fetch(
        self, table: str, match: dict[str, Any] | None = None, order_by: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        if self.hold is not None:
            await self.hold.wait()
        if table == CHANNELS:
            return [self.channel_row] if self.channel_row else []
        assert table == ITEMS
        return list(self.items)

    async def commit(self, name: str, expected: int, position: int, w: Sequence[Write]) -> None:
        raise AssertionError("not used")


def world(*titles: str) -> tuple[LiveQueues, Shadow, Rows]:
    channel_row, items = rows_for("lobby", state(*titles), 1)
    store = Rows(channel_row, items)
    shadow = Shadow()
    live = LiveQueues(QueueQueries(store, Clock()), shadow)  # type: ignore[arg-type]
    return live, shadow, store


def titles(frame: str | None) -> list[str]:
    assert frame is not None
    view = json.loads(frame)
    return [view["now_playing"]["item"]["title"]] + [i["title"] for i in view["items"]]


async def test_every_watcher_gets_the_same_frame_encoded_once_per_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live, shadow, _ = world("A", "B")
    watchers = [await live.watch("lobby") for _ in range(50)]
    firsts = [await w.next() for w in watchers]
    assert all(titles(f) == ["A", "B"] for f in firsts)

    encoded: list[str] = []
    original = live_module.encode_frame

    def counting(view: Any) -> str:
        encoded.append(original(view))
        return encoded[-1]

    monkeypatch.setattr(live_module, "encode_frame", counting)
    shadow.fold("lobby", state("A", "B", "C"), 2)
    await live.changed({"lobby"}, 2)
    frames = [await w.next() for w in watchers]
    assert len(encoded) == 1
    assert all(f is encoded[0] for f in frames)  # the very same str, not equal copies
    assert titles(frames[0]) == ["A", "B", "C"] and json.loads(frames[0])["position"] == 2
    assert live.connections == 50


async def test_a_slow_watcher_skips_to_the_newest_state() -> None:
    live, shadow, _ = world("A")
    watcher = await live.watch("lobby")
    await watcher.next()
    for n, s in enumerate([state("A", "B"), state("A", "B", "C"), state("B", "C")], 2):
        shadow.fold("lobby", s, n)
        await live.changed({"lobby"}, n)
    assert titles(await watcher.next()) == ["B", "C"]
    assert not watcher._ready.is_set()  # nothing older left behind


async def test_a_new_watcher_starts_from_the_last_change_without_reading_sql() -> None:
    live, shadow, store = world("A")
    shadow.fold("lobby", state("A", "B"), 5)
    await live.changed({"lobby"}, 5)  # nobody watching yet
    store.hold = asyncio.Event()  # a read would hang
    watcher = await asyncio.wait_for(live.watch("lobby"), 1)
    frame = await watcher.next()
    assert titles(frame) == ["A", "B"] and json.loads(frame or "")["position"] == 5


async def test_a_change_announced_during_the_first_read_wins_over_it() -> None:
    live, shadow, store = world("A")
    store.hold = asyncio.Event()
    watching = asyncio.create_task(live.watch("lobby"))
    await asyncio.sleep(0.01)  # reading the (older) rows from SQL
    shadow.fold("lobby", state("A", "B"), 2)
    await live.changed({"lobby"}, 2)
    store.hold.set()
    watcher = await watching
    assert titles(await watcher.next()) == ["A", "B"]
    assert not watcher._ready.is_set()


async def test_closing_ends_the_watcher_and_unwatch_forgets_it() -> None:
    live, shadow, _ = world("A")
    watcher = await live.watch("lobby")
    other = await live.watch("lobby")
    watcher.close()
    assert await watcher.next() is None
    live.unwatch(watcher)
    assert live.connections == 1
    live.unwatch(other)
    assert live.connections == 0
    shadow.fold("lobby", state("B"), 3)
    await live.changed({"lobby"}, 3)  # no watchers: nothing to encode, nothing fails
