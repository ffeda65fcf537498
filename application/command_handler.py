"""Load, decide, append; on a conflict, catch up and decide again.

Aggregate states stay cached in memory with the log position they reflect, so the hot path does
no read at all: optimistic concurrency tells us when the cache is stale, and only then do we read
the commits we missed. A command's id is its commit id, so a retried command appends once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from application.ports import Clock, Commit, ConcurrencyConflict, EventStore, StreamId
from domain.decider import Context, Decider, RandomSource


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

    async def load(self, decider: Decider[Any, Any, Any], stream: StreamId) -> _Loaded:
        cached = self._cache.get(stream)
        base = cached or _Loaded(decider.initial(stream.id), 0, 0)
        return await self._catch_up(decider, stream, base)

    async def state(self, decider: Decider[Any, Any, Any], stream: StreamId) -> Any:
        """The aggregate as the log has it now (reads what the cache has not seen)."""
        return (await self.load(decider, stream)).state

    async def _catch_up(
        self, decider: Decider[Any, Any, Any], stream: StreamId, base: _Loaded
    ) -> _Loaded:
        state, position, version = base.state, base.position, base.version
        for stored in await self._store.read_stream(stream, after=position):
            for event in stored.commit.events:
                state = decider.evolve(state, event)
            position, version = stored.position, stored.commit.version
        return self._remember(stream, _Loaded(state, position, version))

    def _remember(self, stream: StreamId, loaded: _Loaded) -> _Loaded:
        self._cache[stream] = loaded
        self._cache.move_to_end(stream)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
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
    ) -> Outcome:
        """Raises Rejected (nothing appended) or ConcurrencyConflict after the retry budget.
        `random` is where this decision draws from (what it draws goes into its events);
        `config` adds to the handler's configuration for this decision only."""
        lock = self._locks.setdefault(stream, asyncio.Lock())
        async with lock:
            loaded = self._cache.get(stream) or await self.load(decider, stream)
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
                    result = await self._store.append(commit, loaded.position)
                except ConcurrencyConflict:
                    self.conflicts += 1
                    loaded = await self._catch_up(decider, stream, loaded)
                    continue
                if result.duplicate:
                    await self._catch_up(decider, stream, loaded)
                    return Outcome((), result.position, duplicate=True, retries=attempt)
                state = loaded.state
                for event in events:
                    state = decider.evolve(state, event)
                self._remember(stream, _Loaded(state, result.position, commit.version))
                return Outcome(tuple(events), result.position, retries=attempt)
            raise ConcurrencyConflict(stream, loaded.position)
