"""The ports the application needs from the outside world. Adapters implement them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol

from attrs import frozen


@frozen
class StreamId:
    """One aggregate's subject in the log: `wq.ev.{channel}.{aggregate}.{id}`."""

    channel: str
    aggregate: str
    id: str


@frozen
class Commit:
    """The events of one decision; one log message, so a multi-event decision is atomic."""

    commit_id: str
    stream: StreamId
    version: int
    at: datetime
    actor: str
    events: tuple[Any, ...]
    causation_id: str | None = None
    correlation_id: str | None = None


@frozen
class StoredCommit:
    position: int
    commit: Commit


@frozen
class AppendResult:
    position: int
    duplicate: bool = False


class ConcurrencyConflict(Exception):
    """Someone else appended to the stream since we read it: reload and decide again."""

    def __init__(self, stream: StreamId, expected: int) -> None:
        super().__init__(f"{stream} moved past position {expected}")
        self.stream = stream
        self.expected = expected


class CommitTooLarge(Exception):
    """A commit bigger than the log takes in one message: nothing was appended."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a commit of {size:,} bytes is more than the log's {limit:,}")
        self.size = size
        self.limit = limit


class StoreUnavailable(Exception):
    """The log cannot be reached right now; the caller gets a clear 503, nothing is half-done."""


class StoreFull(StoreUnavailable):
    """The log refused the append for want of storage (a full disk, or JetStream's storage
    limits): nothing was written, and it takes appends again once it has room. Everything that
    waits out an unreachable log waits this out the same way; people are told it is full."""


class EventStore(Protocol):
    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        """Append if the stream's last commit is at `expected_position` (0: stream is empty).

        A commit id seen before is not stored twice: the first one's position comes back with
        `duplicate=True`. Raises ConcurrencyConflict when the stream moved on.
        """
        ...

    async def read_stream(self, stream: StreamId, after: int = 0) -> list[StoredCommit]:
        """One aggregate's commits after a position, oldest first."""
        ...

    def read_all(self, after: int = 0, channel: str | None = None) -> AsyncIterator[StoredCommit]:
        """Every commit after a position up to the head as it was when called."""
        ...

    def subscribe(self, after: int = 0, channel: str | None = None) -> AsyncIterator[StoredCommit]:
        """Every commit after a position, then each new one as it lands; never ends by itself."""
        ...

    async def head(self) -> int:
        """Position of the newest commit in the log (0 when empty)."""
        ...


async def release(iterator: AsyncIterator[Any]) -> None:
    """Let go of a log reader left early (the port's iterators are async generators)."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
