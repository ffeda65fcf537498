"""The like rules in effect on a channel, and admins' changes.

A change is an event (`LikeRulesChanged`, domain/likes/rules.py) and is in effect on the next
like. Until the first change, the configuration's `[likes]` applies. The service learns the
rules in one of two ways:

- following the process's shared log tail (`run`, as the service is wired): the changes are
  folded in memory, so a like costs no read for them; a change made here returns once the fold
  has seen it, so the next like here is judged by it (one made by another instance counts here
  as soon as this tail delivers it). Until the fold first reaches the log's head, and whenever it
  is not running, the rules are read from the log instead;
- reading the log on every like: likes arriving together share the read (one per channel at a
  time, as `QueueNowPlaying` does), so a flood costs one read per round trip.
"""

from __future__ import annotations

import asyncio
import logging

from application.identity.roles import Identity, require
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import EventStore, StoredCommit
from application.log.streams import like_rules_stream
from application.tasks import SharedReads
from domain.likes.model import LikeRules
from domain.likes.rules import LikeRulesState, SetLikeRules, like_rules_decider

log = logging.getLogger(__name__)
#: How long a change waits for the fold to see it before it returns anyway.
SEEN_WAIT_SEC = 5.0


class LikeRulesService:
    def __init__(self, handler: CommandHandler, defaults: LikeRules) -> None:
        self._handler = handler
        self.defaults = defaults
        self._reads = SharedReads(self._read)
        # Following the tail: each channel's like rules as folded, and how far the fold is.
        self._folded: dict[str, LikeRulesState] = {}
        self._position = 0
        self._moved = asyncio.Event()
        self._ready = False
        self._following = False

    # ---- following the log ------------------------------------------------------------------

    async def run(self, events: EventStore) -> None:
        """Fold every like rules change from `events` (the shared tail), from the start."""
        self._folded, self._position = {}, 0
        self._following = True
        try:
            head = await events.head()
            self._ready = head == 0
            async for stored in events.subscribe(0):
                self.apply(stored)
                if stored.position >= head:
                    self._ready = True
        finally:
            self._following = self._ready = False

    def apply(self, stored: StoredCommit) -> None:
        stream = stored.commit.stream
        if stream.aggregate == like_rules_decider.aggregate:
            state = self._folded.get(stream.channel) or like_rules_decider.initial(stream.channel)
            for event in stored.commit.events:
                state = like_rules_decider.evolve(state, event)
            self._folded[stream.channel] = state
        self._position = stored.position
        self._moved.set()
        self._moved = asyncio.Event()

    async def _seen(self, position: int | None) -> None:
        if position is None or not self._following:
            return
        try:
            async with asyncio.timeout(SEEN_WAIT_SEC):
                while self._position < position:
                    await self._moved.wait()
        except TimeoutError:
            log.warning("like rules: the tail is slow to show position %d", position)

    @property
    def from_memory(self) -> bool:
        """The rules are answered from the fold of the tail (no read of the log per like)."""
        return self._following and self._ready

    # ---- reading ----------------------------------------------------------------------------

    async def effective(self, channel: str) -> LikeRules:
        """The rules now: from the fold when it has reached the head, else read from the log
        after the caller asked (reads shared)."""
        if self.from_memory:
            state = self._folded.get(channel)
            return self.defaults if state is None else state.effective(self.defaults)
        return await self._reads.get(channel)

    async def _read(self, channel: str) -> LikeRules:
        state: LikeRulesState = await self._handler.state(
            like_rules_decider, like_rules_stream(channel)
        )
        return state.effective(self.defaults)

    async def set_rules(self, channel: str, who: Identity, rules: LikeRules) -> LikeRules:
        """Admins only; raises Rejected `invalid_config` naming the field out of range."""
        require(who, "admin")
        outcome = await self._handler.handle(
            like_rules_decider,
            like_rules_stream(channel),
            SetLikeRules(rules, who.user),
            CommandMeta.new(who.user),
        )
        await self._seen(outcome.position)
        return rules
