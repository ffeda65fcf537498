"""Load, decide, append; on a conflict, catch up and decide again.

Aggregate states stay cached in memory with the log position they reflect, so the hot path does
no read at all: optimistic concurrency tells us when the cache is stale, and only then do we read
the commits we missed. A command's id is its commit id, so a retried command appends once.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from application.clock import Clock
from application.log.ports import (
    AppendResult,
    Commit,
    ConcurrencyConflict,
    EventStore,
    StoredCommit,
    StoreUnavailable,
    StreamId,
)
from application.log.snapshots import DEFAULT_SNAPSHOT_EVERY, Snapshot, SnapshotStore, snapshot_due
from application.log.tail import LogTail
from application.telemetry import CommandOutcome, NullTelemetry, Telemetry
from domain.decider import Context, Decider, RandomSource
from domain.errors import Rejected

log = logging.getLogger(__name__)

_BACKOFF_SEC = 0.001  # the first retry is immediate, then up to 2, 4, ... 32 ms


@frozen
class CommandMeta:
    command_id: str
    actor: str = "system"
    causation_id: str | None = None
    correlation_id: str | None = None

    @classmethod
    def new(cls, actor: str = "system", **kw: str | None) -> CommandMeta:
        return cls(command_id=uuid.uuid4().hex, actor=actor, **kw)


@frozen
class Outcome:
    events: tuple[Any, ...]
    position: int | None
    duplicate: bool = False
    retries: int = 0


@frozen
class _Loaded:
    state: Any
    position: int
    version: int


class CommandHandler:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        *,
        max_retries: int = 8,
        random: RandomSource | None = None,
        config: Mapping[str, Any] | None = None,
        cache_size: int = 10_000,
        telemetry: Telemetry | None = None,
        snapshots: SnapshotStore | None = None,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_retries = max_retries
        self._random = random
        self._config = dict(config or {})
        self._cache: OrderedDict[StreamId, _Loaded] = OrderedDict()
        self._cache_size = cache_size
        self._locks: dict[StreamId, asyncio.Lock] = {}
        self.conflicts = 0
        self._jitter = _random.Random()
        self._telemetry: Telemetry = telemetry or NullTelemetry()
        self._snapshots = snapshots
        self._snapshot_every = snapshot_every
        self._snapshot_next: dict[StreamId, _Loaded] = {}
        self._snapshot_tasks: dict[StreamId, asyncio.Task[None]] = {}
        # The shared tail, when the handler's store is one (see `current`).
        self._tail = store if isinstance(store, LogTail) else None
        # For cached streams: the log was read for the stream through this position at least.
        self._verified: dict[StreamId, int] = {}

    async def load(self, decider: Decider[Any, Any, Any], stream: StreamId) -> _Loaded:
        cached = self._cache.get(stream)
        if cached is None and self._snapshots is not None and decider.snapshots:
            return await self._load_from_snapshot(decider, stream)
        base = cached or _Loaded(decider.initial(stream.id), 0, 0)
        return await self._catch_up(decider, stream, base)

    async def state(self, decider: Decider[Any, Any, Any], stream: StreamId) -> Any:
        """The aggregate as the log has it now (reads what the cache has not seen)."""
        return (await self.load(decider, stream)).state

    async def current(self, decider: Decider[Any, Any, Any], stream: StreamId) -> Any:
        """The aggregate as of everything the shared log tail has read, for followers (which
        the tail wakes): the cached state, with no read of the log, when the tail has read no
        commit of the stream since the cache was known current; else as `state`."""
        tail = self._tail
        if tail is None:
            return await self.state(decider, stream)
        cached = self._cache.get(stream)
        if cached is not None:
            through = max(self._verified.get(stream, 0), cached.position)
            if tail.changed_after(stream, through) is False:
                return cached.state
        read_from = tail.read_through()
        loaded = await self.load(decider, stream)
        if read_from is not None and stream in self._cache:
            # The read began once the tail had read `read_from`: it saw every commit up to there.
            # The cache is never older than this read (`_remember`), so it holds all that too.
            self._verified[stream] = max(self._verified.get(stream, 0), read_from, loaded.position)
        return loaded.state

    async def _catch_up(
        self, decider: Decider[Any, Any, Any], stream: StreamId, base: _Loaded
    ) -> _Loaded:
        commits = await self._store.read_stream(stream, after=base.position)
        return self._fold(decider, stream, base, commits)

    def _fold(
        self,
        decider: Decider[Any, Any, Any],
        stream: StreamId,
        base: _Loaded,
        commits: list[StoredCommit],
    ) -> _Loaded:
        state, position, version = base.state, base.position, base.version
        for stored in commits:
            for event in stored.commit.events:
                state = decider.evolve(state, event)
            position, version = stored.position, stored.commit.version
        loaded = self._remember(stream, _Loaded(state, position, version))
        if self._snapshots is not None and version - base.version >= self._snapshot_every:
            self._snapshot_later(stream, loaded)  # a long fold: spare the next cold load it
        return loaded

    async def _load_from_snapshot(
        self, decider: Decider[Any, Any, Any], stream: StreamId
    ) -> _Loaded:
        """A cold load: start from the stream's snapshot and read only the commits after it.
        The commit at the snapshot's own position is read too: it must be this stream's commit
        of the snapshot's version, or the snapshot belongs to another log and is not used."""
        start = _Loaded(decider.initial(stream.id), 0, 0)
        snapshot = await self._read_snapshot(stream, type(start.state))
        if snapshot is None:
            return await self._catch_up(decider, stream, start)
        commits = await self._store.read_stream(stream, after=snapshot.position - 1)
        first = commits[0] if commits else None
        if first is None or (first.position, first.commit.version) != (
            snapshot.position,
            snapshot.version,
        ):
            log.warning(
                "the snapshot of %s (position %d, version %d) does not match the log; "
                "folding from the start",
                stream,
                snapshot.position,
                snapshot.version,
            )
            return await self._catch_up(decider, stream, start)
        base = _Loaded(snapshot.state, snapshot.position, snapshot.version)
        return self._fold(decider, stream, base, commits[1:])

    async def _read_snapshot(self, stream: StreamId, state_type: type) -> Snapshot | None:
        assert self._snapshots is not None
        try:
            snapshot = await self._snapshots.get(stream)
        except Exception as exc:
            log.warning(
                "reading the snapshot of %s failed (%s); folding from the start",
                stream,
                f"{type(exc).__name__}: {exc}"[:200],
            )
            return None
        if snapshot is None:
            return None
        if not isinstance(snapshot.state, state_type) or snapshot.position < 1:
            log.warning("the snapshot of %s holds no usable state; folding from the start", stream)
            return None
        return snapshot

    def _snapshot_later(self, stream: StreamId, loaded: _Loaded) -> None:
        """Write a snapshot in the background: a command never waits for it, and a failed write
        only makes the next cold load fold more. One writer per stream; the newest state wins."""
        self._snapshot_next[stream] = loaded
        if stream not in self._snapshot_tasks:
            self._snapshot_tasks[stream] = asyncio.create_task(self._write_snapshots(stream))

    async def _write_snapshots(self, stream: StreamId) -> None:
        assert self._snapshots is not None
        try:
            while (loaded := self._snapshot_next.pop(stream, None)) is not None:
                snapshot = Snapshot(loaded.position, loaded.version, loaded.state)
                try:
                    await self._snapshots.put(stream, snapshot)
                except Exception:
                    log.warning(
                        "snapshot of %s at position %d not written",
                        stream,
                        loaded.position,
                        exc_info=True,
                    )
        finally:
            self._snapshot_tasks.pop(stream, None)

    async def drain_snapshots(self) -> None:
        """Wait for the snapshot writes under way (for tests and an orderly shutdown)."""
        while self._snapshot_tasks:
            await asyncio.gather(*self._snapshot_tasks.values(), return_exceptions=True)

    def _remember(self, stream: StreamId, loaded: _Loaded) -> _Loaded:
        """Cache `loaded` unless the cache already holds a newer state of the stream: reads run
        concurrently, and one answered before a commit may arrive after another that has it.
        Taking the cache back then made `current` serve the older state as verified (the pay
        flow missed a purchase for good that way)."""
        cached = self._cache.get(stream)
        if cached is not None and cached.position > loaded.position:
            self._cache.move_to_end(stream)
            return loaded
        self._cache[stream] = loaded
        self._cache.move_to_end(stream)
        while len(self._cache) > self._cache_size:
            gone, _ = self._cache.popitem(last=False)
            self._verified.pop(gone, None)
        return loaded

    async def handle(
        self,
        decider: Decider[Any, Any, Any],
        stream: StreamId,
        command: Any,
        meta: CommandMeta,
        *,
        random: RandomSource | None = None,
        config: Mapping[str, Any] | None = None,
        new_stream: bool = False,
    ) -> Outcome:
        """Raises Rejected (nothing appended) or ConcurrencyConflict after the retry budget.
        `random` is where this decision draws from (what it draws goes into its events);
        `config` adds to the handler's configuration for this decision only. `new_stream`: the
        stream is expected to be empty (a purchase id's claim), so a stream not in the cache is
        decided on its initial state and appended as the first commit without reading it first;
        if it is not empty after all, the conflict reads it and the decision is taken again."""
        started = time.perf_counter()
        outcome: CommandOutcome | None = None
        try:
            result = await self._handle(
                decider, stream, command, meta, random=random, config=config, new_stream=new_stream
            )
            outcome = "ok" if result.events else "noop"
            return result
        except Exception as exc:
            outcome = _outcome_of(exc)
            raise
        finally:
            if outcome is not None:  # a cancelled call reports nothing
                self._telemetry.command_handled(
                    stream.aggregate, type(command).__name__, outcome, time.perf_counter() - started
                )

    async def _handle(
        self,
        decider: Decider[Any, Any, Any],
        stream: StreamId,
        command: Any,
        meta: CommandMeta,
        *,
        random: RandomSource | None,
        config: Mapping[str, Any] | None,
        new_stream: bool = False,
    ) -> Outcome:
        lock = self._locks.setdefault(stream, asyncio.Lock())
        async with lock:
            loaded = self._cache.get(stream)
            if loaded is None:
                loaded = (
                    _Loaded(decider.initial(stream.id), 0, 0)
                    if new_stream
                    else await self.load(decider, stream)
                )
            for attempt in range(self._max_retries + 1):
                now = self._clock.now()
                settings = {**self._config, **config} if config else self._config
                ctx = Context(now=now, random=random or self._random, config=settings)
                events = decider.decide(loaded.state, command, ctx)
                if not events:
                    return Outcome((), None, retries=attempt)
                commit = Commit(
                    commit_id=meta.command_id,
                    stream=stream,
                    version=loaded.version + 1,
                    at=now,
                    actor=meta.actor,
                    events=tuple(events),
                    causation_id=meta.causation_id,
                    correlation_id=meta.correlation_id,
                )
                try:
                    result = await self._append(commit, loaded.position)
                except ConcurrencyConflict:
                    self.conflicts += 1
                    self._telemetry.conflict_retry(stream.aggregate)
                    await self._back_off(attempt)
                    loaded = await self._catch_up(decider, stream, loaded)
                    continue
                if result.duplicate:
                    await self._catch_up(decider, stream, loaded)
                    return Outcome((), result.position, duplicate=True, retries=attempt)
                state = loaded.state
                for event in events:
                    state = decider.evolve(state, event)
                done = self._remember(stream, _Loaded(state, result.position, commit.version))
                if self._snapshots is not None and snapshot_due(
                    loaded.version, commit.version, self._snapshot_every
                ):
                    self._snapshot_later(stream, done)
                return Outcome(tuple(events), result.position, retries=attempt)
            raise ConcurrencyConflict(stream, loaded.position)

    async def _back_off(self, attempt: int) -> None:
        """Wait a random moment before trying again. Without it, a writer in another process
        that reads as fast as we do can win every round: we catch up, it has appended again."""
        if attempt:
            await asyncio.sleep(self._jitter.uniform(0, _BACKOFF_SEC * 2 ** min(attempt, 5)))

    async def _append(self, commit: Commit, expected_position: int) -> AppendResult:
        started = time.perf_counter()
        try:
            return await self._store.append(commit, expected_position)
        finally:
            self._telemetry.append_latency(time.perf_counter() - started)


def _outcome_of(exc: Exception) -> CommandOutcome:
    if isinstance(exc, Rejected):
        return "rejected"
    if isinstance(exc, ConcurrencyConflict):
        return "conflict_exhausted"
    if isinstance(exc, StoreUnavailable):
        return "unavailable"
    return "error"
