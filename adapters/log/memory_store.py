"""An in-memory EventStore with the JetStream store's semantics, for unit tests and benches.

It stores encoded bytes, not objects, so every test that uses it also exercises the codec.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from adapters.log.codec import Codec
from adapters.log.subjects import token
from application.log.ports import AppendResult, Commit, ConcurrencyConflict, StoredCommit, StreamId


def _key(stream: StreamId) -> tuple[str, str, str]:
    return (token(stream.channel), token(stream.aggregate), token(stream.id))


class InMemoryEventStore:
    def __init__(self, codec: Codec | None = None) -> None:
        self._codec = codec or Codec()
        self._log: list[tuple[tuple[str, str, str], bytes]] = []
        self._last: dict[tuple[str, str, str], int] = {}
        self._seen: dict[str, int] = {}
        self._changed = asyncio.Condition()

    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        if commit.commit_id in self._seen:
            return AppendResult(self._seen[commit.commit_id], duplicate=True)
        key = _key(commit.stream)
        if self._last.get(key, 0) != expected_position:
            raise ConcurrencyConflict(commit.stream, expected_position)
        self._log.append((key, self._codec.encode_commit(commit)))
        position = len(self._log)
        self._last[key] = position
        self._seen[commit.commit_id] = position
        async with self._changed:
            self._changed.notify_all()
        return AppendResult(position)

    def _stored(self, position: int) -> StoredCommit:
        return StoredCommit(position, self._codec.decode_commit(self._log[position - 1][1]))

    async def read_stream(self, stream: StreamId, after: int = 0) -> list[StoredCommit]:
        key = _key(stream)
        return [
            self._stored(p)
            for p in range(after + 1, len(self._log) + 1)
            if self._log[p - 1][0] == key
        ]

    def _matches(self, position: int, channel: str | None) -> bool:
        return channel is None or self._log[position - 1][0][0] == token(channel)

    async def read_all(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        head = len(self._log)
        for position in range(after + 1, head + 1):
            if self._matches(position, channel):
                yield self._stored(position)

    async def subscribe(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        position = after
        while True:
            while position < len(self._log):
                position += 1
                if self._matches(position, channel):
                    yield self._stored(position)
            seen = position
            async with self._changed:
                await self._changed.wait_for(lambda seen=seen: len(self._log) > seen)

    async def head(self) -> int:
        return len(self._log)
