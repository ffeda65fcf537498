"""The like rules in effect on a channel, read from the log on every like, and admins' changes.

A change is an event (`LikeRulesChanged`, domain/likes/rules.py) and is in effect on the next
like: every like reads the rules from the log, as it reads what plays. Likes arriving together
share that read (one per channel at a time, as `QueueNowPlaying` does), so a flood costs one read
per round trip. Until the first change, the configuration's `[likes]` applies.
"""

from __future__ import annotations

import asyncio

from application.identity.roles import Identity, require
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import like_rules_stream
from domain.likes.model import LikeRules
from domain.likes.rules import LikeRulesState, SetLikeRules, like_rules_decider


class LikeRulesService:
    def __init__(self, handler: CommandHandler, defaults: LikeRules) -> None:
        self._handler = handler
        self.defaults = defaults
        self._running: dict[str, asyncio.Task[LikeRules]] = {}
        self._waiting: dict[str, asyncio.Future[LikeRules]] = {}

    async def effective(self, channel: str) -> LikeRules:
        """The rules now, read from the log after the caller asked (reads shared)."""
        waiting = self._waiting.get(channel)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            self._waiting[channel] = waiting
            if channel not in self._running:
                self._start(channel)
        return await asyncio.shield(waiting)

    def _start(self, channel: str) -> None:
        answer = self._waiting.pop(channel)
        task = asyncio.create_task(self._read(channel))
        self._running[channel] = task

        def done(read: asyncio.Task[LikeRules]) -> None:
            del self._running[channel]
            if read.cancelled():
                answer.cancel()
            elif (error := read.exception()) is not None:
                answer.set_exception(error)
            else:
                answer.set_result(read.result())
            if channel in self._waiting:  # asked while this read ran: read again for them
                self._start(channel)

        task.add_done_callback(done)

    async def _read(self, channel: str) -> LikeRules:
        state: LikeRulesState = await self._handler.state(
            like_rules_decider, like_rules_stream(channel)
        )
        return state.effective(self.defaults)

    async def set_rules(self, channel: str, who: Identity, rules: LikeRules) -> LikeRules:
        """Admins only; raises Rejected `invalid_config` naming the field out of range."""
        require(who, "admin")
        await self._handler.handle(
            like_rules_decider,
            like_rules_stream(channel),
            SetLikeRules(rules, who.user),
            CommandMeta.new(who.user),
        )
        return rules
