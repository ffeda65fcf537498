"""Request rules as admins read and change them (a change is an event, in effect at once), and
what a purchase's decision is handed: the channel's rules, the buyer's role and CyTube rank (when
a medium last played the decision reads from the queue itself). A refusal by rule is written to
the log (`RequestRefusedByRule`) for the stats."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from application.identity.roles import Identity, Role, require
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import queue_stream, rule_refusals_stream, rules_stream
from domain.errors import Rejected
from domain.media import Media
from domain.queue.decider import queue_decider
from domain.queue.order_model import SetQueueOrder
from domain.queue.state import QueueState
from domain.rules.config import (
    RecordRuleRefusal,
    RulesConfig,
    RulesState,
    SetRules,
    refusal_decider,
    rules_decider,
)

log = logging.getLogger(__name__)

#: A user's CyTube rank in a channel as CyTube last reported it (presence), or None.
RankOf = Callable[[str, str], float | None]
#: A user's role now, as a sign-in would give it (the identity facts), for `exempt_roles`.
RoleOf = Callable[[str], Role]


class RulesService:
    def __init__(
        self,
        handler: CommandHandler,
        *,
        defaults: RulesConfig | None = None,
        rank_of: RankOf | None = None,
        role_of: RoleOf | None = None,
    ) -> None:
        self._handler = handler
        self.defaults = defaults or RulesConfig()
        self._rank_of = rank_of
        self._role_of = role_of

    async def effective(self, channel: str) -> RulesConfig:
        """The channel's rules now: an admin's last change, else the operator's defaults."""
        # As current as the shared log tail (a change by another process shows once it is read).
        state: RulesState = await self._handler.current(rules_decider, rules_stream(channel))
        return state.effective(self.defaults)

    async def config(self, channel: str, who: Identity) -> RulesConfig:
        """Anyone signed in may read the rules they buy under."""
        return await self.effective(channel)

    async def set_config(self, channel: str, who: Identity, config: RulesConfig) -> RulesConfig:
        """Raises InvalidSetting (a Rejected naming the field) for a setting out of range."""
        require(who, "admin")
        await self._handler.handle(
            rules_decider,
            rules_stream(channel),
            SetRules(config, who.user),
            CommandMeta.new(who.user),
        )
        await self.sync_order(channel, config, who.user)
        return config

    async def sync_order(self, channel: str, config: RulesConfig, by: str = "webqueue") -> None:
        """The queue's log carries the order rule as a fact of its own (`QueueOrderSet`), so a
        replay knows how each paid item was placed; written when it differs from the rules."""
        state: QueueState = await self._handler.current(queue_decider, queue_stream(channel))
        if state.fair_order != config.fair_order:
            await self._handler.handle(
                queue_decider,
                queue_stream(channel),
                SetQueueOrder(config.fair_order, by),
                CommandMeta.new(by),
            )

    async def prepare(self, channel: str) -> None:
        await self.sync_order(channel, await self.effective(channel))

    async def decision_config(self, channel: str, who: Identity, media: Media) -> dict[str, Any]:
        """What `domain.queue.pay_rules` reads from a purchase's decision context."""
        return await self._buyer_config(channel, who.user, who.role)

    async def _buyer_config(self, channel: str, user: str, role: Role) -> dict[str, Any]:
        rules = await self.effective(channel)
        rank = None
        if rules.exempt_min_rank is not None and self._rank_of is not None:
            rank = self._rank_of(channel, user)
        return {"request_rules": rules, "buyer_role": role, "buyer_rank": rank}

    async def recheck_config(self, channel: str, user: str) -> dict[str, Any]:
        """What `pay_rules.recheck` reads, for a purchase the pay flow holds: the buyer's role
        as the identity facts give it now (the flow has no token), else `viewer`."""
        role: Role = self._role_of(user) if self._role_of is not None else "viewer"
        return await self._buyer_config(channel, user, role)

    async def refused(self, channel: str, who: Identity, media: Media, refusal: Rejected) -> None:
        """Record a refusal by rule; never in the way of the answer to the buyer."""
        await self._record(RecordRuleRefusal(who.user, media.type, media.id, refusal.code), channel)

    async def refused_on_length(
        self, channel: str, user: str, request_id: str, media: Media, code: str
    ) -> None:
        """Record a purchase a rule refused on the length CyTube reports (`media`'s)."""
        command = RecordRuleRefusal(
            user, media.type, media.id, code, request_id, media.duration_sec
        )
        await self._record(command, channel)

    async def _record(self, command: RecordRuleRefusal, channel: str) -> None:
        if not command.code.startswith("rule_"):
            return
        # Keyed by the purchase when there is one, so a retried record lands once.
        meta = (
            CommandMeta(f"rule-refusal:{channel}:{command.request_id}", actor="pay-flow")
            if command.request_id is not None
            else CommandMeta.new(command.user)
        )
        try:
            await self._handler.handle(
                refusal_decider, rule_refusals_stream(channel), command, meta
            )
        except Exception:
            log.warning("could not record a refusal by %s on %s", command.code, channel)
