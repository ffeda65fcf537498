"""The blessed list as admins manage it (HTTP, the CLI and NATS alike)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from application.identity.facts import IdentityFacts
from application.identity.roles import Identity, require
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import blessed_stream
from domain.identity.blessed import Bless, Unbless, blessed_decider


class BlessedView(msgspec.Struct):
    user: str
    by: str
    at: datetime


class BlessedService:
    def __init__(self, handler: CommandHandler, facts: IdentityFacts, channel: str) -> None:
        self._handler = handler
        self._facts = facts
        self._channel = channel

    def entries(self, who: Identity) -> list[BlessedView]:
        require(who, "blessed")
        users = self._facts.blessed(self._channel).users.values()
        return sorted(
            (BlessedView(e.user, e.by, e.at) for e in users), key=lambda v: v.user.lower()
        )

    async def bless(self, who: Identity, user: str) -> list[BlessedView]:
        require(who, "admin")
        await self._change(Bless(user, who.user), who)
        return self.entries(who)

    async def unbless(self, who: Identity, user: str) -> list[BlessedView]:
        require(who, "admin")
        await self._change(Unbless(user, who.user), who)
        return self.entries(who)

    async def _change(self, command: Bless | Unbless, who: Identity) -> None:
        outcome = await self._handler.handle(
            blessed_decider, blessed_stream(self._channel), command, CommandMeta.new(who.user)
        )
        await self._facts.caught_up(outcome.position)
