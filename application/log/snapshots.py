"""Snapshots of aggregate state, so a cold load reads only the commits after the last one.

A snapshot is an aggregate's state folded up to a log position (and the aggregate version of
the commit at that position). It is a cache, never a source of truth: whatever is wrong with one
(missing, written by another build, corrupt, belonging to another log) costs a full fold, never a
wrong state. The command handler checks a snapshot against the log before it trusts it.
"""

from __future__ import annotations

from typing import Any, Protocol

from attrs import frozen

from application.log.ports import StreamId

DEFAULT_SNAPSHOT_EVERY = 500


@frozen
class Snapshot:
    """`state` is the aggregate's state as its decider's `evolve` returns it, folded up to
    (and including) the commit at log `position`, whose aggregate version is `version`."""

    position: int
    version: int
    state: Any


class SnapshotStore(Protocol):
    async def get(self, stream: StreamId) -> Snapshot | None:
        """The stream's latest snapshot, or None when there is none this build can read (none
        written yet, written by a build with another state layout, unreadable bytes)."""
        ...

    async def put(self, stream: StreamId, snapshot: Snapshot) -> None:
        """Replace the stream's snapshot. May raise: callers treat a failed write as a missed
        snapshot, never as a failed command."""
        ...


def snapshot_due(before: int, after: int, every: int) -> bool:
    """True when going from aggregate version `before` to `after` crossed a multiple of
    `every` (so each stream gets a snapshot every `every` commits, whoever wrote them)."""
    return every > 0 and after // every > before // every
