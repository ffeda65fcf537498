"""One reader of the log's tail for every follower in the process.

Projections, the pay flow, the promo director and the presence monitor each follow the whole
log. Each following it on its own cost a consumer, a delivery and a decode per follower for
every commit; here one subscription reads and decodes each commit once and keeps the latest
`keep` of them in memory, and each follower reads from there at its own pace. A follower that
falls further behind than that reads its way back from the log itself, so memory stays bounded
whatever a follower does.

The tail also knows how far its slowest follower is behind the newest commit (`lag`), which
lets intake hold new work back while followers digest what is there (application.log.intake),
and the newest position of each stream it has read (`changed_after`), so that the command
handler can answer a follower from its cached state without reading the log when the tail has
seen nothing new on the stream (application.log.command_handler, `current`).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator

from application.log.ports import (
    AppendResult,
    Commit,
    EventStore,
    StoredCommit,
    StreamId,
    release,
)

log = logging.getLogger(__name__)

# Commits kept in memory (about 1.2 kB each, decoded): more than intake lets the slowest
# follower fall behind (application.log.intake), so followers in step never read back.
KEEP = 5_000
# Streams whose newest position the tail remembers (the least recently written are forgotten).
KEEP_STREAMS = 50_000
_RESTART_SEC = 1.0


class _Cursor:
    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position


class LogTail:
    """An EventStore whose `subscribe` (of the whole log) is shared; everything else, and a
    subscription of one channel, goes to the store underneath."""

    def __init__(self, events: EventStore, *, keep: int = KEEP) -> None:
        self._events = events
        self._keep = keep
        self._ring: list[StoredCommit] = []
        self._base = 0  # the ring holds every commit after this position up to `_head`
        self._head = 0
        self._appended = 0  # the newest position an append through us reported
        self._reader: asyncio.Task[None] | None = None
        self._more: asyncio.Future[None] | None = None
        self._cursors: set[_Cursor] = set()
        self._lag_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._from: int | None = None  # it has read every commit after this (None: not yet)
        self._last: OrderedDict[StreamId, int] = OrderedDict()  # newest position read, by stream
        self._forgotten = 0  # the newest position of a stream dropped from `_last`

    # ---- the store underneath ---------------------------------------------------------------

    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        result = await self._events.append(commit, expected_position)
        self._appended = max(self._appended, result.position)
        return result

    async def read_stream(self, stream: StreamId, after: int = 0) -> list[StoredCommit]:
        return await self._events.read_stream(stream, after)

    def read_all(self, after: int = 0, channel: str | None = None) -> AsyncIterator[StoredCommit]:
        return self._events.read_all(after, channel)

    async def head(self) -> int:
        return await self._events.head()

    # ---- following ----------------------------------------------------------------------------

    async def subscribe(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        if channel is not None:
            commits = self._events.subscribe(after, channel)
            try:
                async for stored in commits:
                    yield stored
            finally:
                await release(commits)
            return
        self._start_reading(after)
        cursor = _Cursor(after)
        self._cursors.add(cursor)
        try:
            while True:
                if cursor.position < self._base:
                    # Behind what the ring holds: read back from the log, to its head.
                    old = self._events.read_all(cursor.position)
                    try:
                        async for stored in old:
                            cursor.position = stored.position
                            self._advanced()
                            yield stored
                    finally:
                        await release(old)
                    continue
                start = bisect.bisect_right(self._ring, cursor.position, key=_position)
                if start < len(self._ring):
                    for stored in self._ring[start:]:
                        if cursor.position >= stored.position:
                            continue
                        cursor.position = stored.position
                        self._advanced()
                        yield stored
                    continue
                await asyncio.shield(self._next())
        finally:
            self._cursors.discard(cursor)
            self._advanced()

    def read_through(self) -> int | None:
        """The position up to which the tail has read the log (None: it is not reading)."""
        return None if self._from is None else self._head

    def changed_after(self, stream: StreamId, position: int) -> bool | None:
        """Whether the tail has read a commit of `stream` after `position`: False means none
        up to `read_through()`; None that it cannot tell (it started reading after `position`,
        or has forgotten the stream)."""
        if self._from is None or position < self._from:
            return None
        last = self._last.get(stream)
        if last is None:
            return None if self._forgotten > position else False
        return last > position

    def lag(self) -> int:
        """Commits the slowest follower has yet to take (0 with no followers)."""
        if not self._cursors:
            return 0
        newest = max(self._head, self._appended)
        return max(newest - min(c.position for c in self._cursors), 0)

    async def lag_at_most(self, limit: int) -> None:
        """Return once `lag() <= limit`."""
        if self.lag() <= limit:
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (limit, waiter)
        self._lag_waiters.append(entry)
        try:
            await waiter
        finally:
            with contextlib.suppress(ValueError):
                self._lag_waiters.remove(entry)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None

    # ---- inside -------------------------------------------------------------------------------

    def _start_reading(self, after: int) -> None:
        if self._reader is None or self._reader.done():
            if self._reader is None:
                self._base = self._head = after
                self._ring.clear()
                self._from = after
            self._reader = asyncio.create_task(self._read(), name="log-tail")

    async def _read(self) -> None:
        """Read the log from the ring's head for ever; a failure restarts it from there."""
        while True:
            commits = self._events.subscribe(self._head)
            try:
                async for stored in commits:
                    if stored.position <= self._head:
                        continue
                    self._ring.append(stored)
                    self._head = stored.position
                    self._note(stored)
                    if len(self._ring) > self._keep + self._keep // 4:
                        del self._ring[: len(self._ring) - self._keep]
                        self._base = self._ring[0].position - 1
                    self._wake()
            except Exception:
                log.exception("reading the log's tail failed; starting again from %d", self._head)
            finally:
                await release(commits)
            await asyncio.sleep(_RESTART_SEC)

    def _note(self, stored: StoredCommit) -> None:
        stream = stored.commit.stream
        self._last[stream] = stored.position
        self._last.move_to_end(stream)
        if len(self._last) > KEEP_STREAMS:
            _, position = self._last.popitem(last=False)
            self._forgotten = max(self._forgotten, position)

    def _next(self) -> asyncio.Future[None]:
        if self._more is None:
            self._more = asyncio.get_running_loop().create_future()
        return self._more

    def _wake(self) -> None:
        more, self._more = self._more, None
        if more is not None and not more.done():
            more.set_result(None)

    def _advanced(self) -> None:
        if not self._lag_waiters:
            return
        lag = self.lag()
        for limit, waiter in self._lag_waiters:
            if lag <= limit and not waiter.done():
                waiter.set_result(None)


def _position(stored: StoredCommit) -> int:
    return stored.position
