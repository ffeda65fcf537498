"""An in-memory SnapshotStore, for unit tests and benches.

States are frozen, so the store keeps the objects themselves; `puts` and `gets` count calls so
tests can tell a snapshot was written or read.
"""

from __future__ import annotations

from adapters.log.subjects import token
from application.log.ports import StreamId
from application.log.snapshots import Snapshot


def _key(stream: StreamId) -> tuple[str, str, str]:
    return (token(stream.channel), token(stream.aggregate), token(stream.id))


class InMemorySnapshotStore:
    def __init__(self) -> None:
        self._snapshots: dict[tuple[str, str, str], Snapshot] = {}
        self.puts = 0
        self.gets = 0

    async def get(self, stream: StreamId) -> Snapshot | None:
        self.gets += 1
        return self._snapshots.get(_key(stream))

    async def put(self, stream: StreamId, snapshot: Snapshot) -> None:
        self.puts += 1
        held = self._snapshots.get(_key(stream))
        if held is None or held.position < snapshot.position:  # never replace a newer one
            self._snapshots[_key(stream)] = snapshot
