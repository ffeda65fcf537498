"""Pay-to-play as the entrypoints see it: one service behind HTTP and NATS alike.

It checks who may do what, turns requests into commands, and reads answers from the
projection; the pay flow does the rest in the background.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec

from application.clock import Clock
from application.errors import NotFoundError
from application.identity.roles import Forbidden, Identity, require, require_self_or_admin
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import queue_stream
from application.pay.economy import Economy, EconomyUnavailable, Tier
from application.projections.ports import ProjectionStore
from application.queue.shadow import PAY_HISTORY, PAY_ITEMS
from domain.decider import Context
from domain.errors import Rejected
from domain.media import Media
from domain.queue.decider import queue_decider
from domain.queue.pay_model import CancelPayItem, LockQueue, RequestPayItem, UnlockQueue
from domain.queue.state import QueueState


class Preview(msgspec.Struct):
    media_type: str
    media_id: str
    tier: str
    cost: int | None
    available: bool
    code: str | None = None
    reason: str | None = None
    balance: int | None = None


class Accepted(msgspec.Struct):
    request_id: str
    status: str
    status_url: str


class HistoryEntry(msgspec.Struct):
    at: datetime
    type: str
    actor: str
    position: int
    data: dict[str, Any]


class PayItemStatus(msgspec.Struct):
    request_id: str
    channel: str
    user: str
    media_type: str
    media_id: str
    title: str
    duration_sec: int
    tier: str
    status: str
    payment: str
    placement: str
    cost: int
    refunded: int
    cancel_reason: str | None
    decline_code: str | None
    requested_at: datetime
    updated_at: datetime
    history: list[HistoryEntry]
    cancel_detail: str | None = None  # the peer's own words, e.g. CyTube's queueFail message


class Wallet(msgspec.Struct):
    user: str
    balance: int


class LockState(msgspec.Struct):
    locked: bool
    label: str | None = None
    until: datetime | None = None


Granter = Callable[[str, str, int, str], Awaitable[int]]
NonPayable = Callable[[str], Awaitable[frozenset[tuple[str, str]]]]
_decode = msgspec.json.Decoder()


class PayService:
    def __init__(
        self,
        handler: CommandHandler,
        economy: Economy,
        read_models: ProjectionStore,
        clock: Clock,
        *,
        granter: Granter | None = None,
        non_payable: NonPayable | None = None,
        status_url: str = "/api/v1/channels/{channel}/pay-items/{request_id}",
    ) -> None:
        self._handler = handler
        self._economy = economy
        self._read = read_models
        self._clock = clock
        self._granter = granter
        self._non_payable = non_payable
        self._status_url = status_url

    async def _rules(self, channel: str) -> dict[str, Any]:
        """What the decision needs to know beyond the queue: media the channel keeps for itself
        (promo pools, immutable playlists) cannot be bought."""
        if self._non_payable is None:
            return {}
        return {"non_payable_media": await self._non_payable(channel)}

    async def _state(self, channel: str) -> QueueState:
        state: QueueState = await self._handler.state(queue_decider, queue_stream(channel))
        return state

    async def preview(self, channel: str, who: Identity, media: Media, tier: Tier) -> Preview:
        """Would this purchase go through now, and for how much? Changes nothing."""
        trial = RequestPayItem(f"preview-{uuid.uuid4().hex}", who.user, media, tier)
        state = await self._state(channel)
        base = Preview(media.type, media.id, tier, None, False)
        try:
            rules = await self._rules(channel)
            queue_decider.decide(state, trial, Context(now=self._clock.now(), config=rules))
        except Rejected as exc:
            base.code, base.reason = exc.code, exc.message
            return base
        try:
            quote = await self._economy.preview(channel, who.user, media.duration_sec, tier)
        except EconomyUnavailable as exc:
            base.code, base.reason = "economy_unavailable", str(exc)
            return base
        base.cost, base.available, base.balance = quote.cost, quote.available, quote.balance
        if not quote.available:
            base.code, base.reason = quote.error_code, quote.message
        return base

    async def request(
        self, channel: str, who: Identity, media: Media, tier: Tier, request_id: str | None
    ) -> Accepted:
        """Accept a purchase (202): the flow settles payment and placement in the background.
        A client-chosen request id makes a retried request land once."""
        rid = request_id or uuid.uuid4().hex
        await self._handler.handle(
            queue_decider,
            queue_stream(channel),
            RequestPayItem(rid, who.user, media, tier),
            CommandMeta(f"request:{channel}:{rid}", actor=who.user, correlation_id=rid),
            config=await self._rules(channel),
        )
        return Accepted(rid, "paying", self._status_url.format(channel=channel, request_id=rid))

    async def status(self, channel: str, who: Identity, request_id: str) -> PayItemStatus:
        rows = await self._read.fetch(PAY_ITEMS, {"request_id": request_id, "channel": channel})
        if not rows:
            raise NotFoundError(
                "unknown_request", f"No purchase {request_id!r} on {channel!r} (yet)."
            )
        row = rows[0]
        if not who.may_act_for(row["user"]):
            raise Forbidden("not_yours", "That purchase belongs to someone else.")
        history = await self._read.fetch(
            PAY_HISTORY, {"request_id": request_id}, order_by=("position", "seq")
        )
        entries = [
            HistoryEntry(h["at"], h["type"], h["actor"], h["position"], _decode.decode(h["data"]))
            for h in history
        ]
        details = [e.data.get("detail") for e in entries if e.type == "PayItemCancelled"]
        return PayItemStatus(
            request_id=row["request_id"],
            channel=row["channel"],
            user=row["user"],
            media_type=row["media_type"],
            media_id=row["media_id"],
            title=row["title"],
            duration_sec=row["duration_sec"],
            tier=row["tier"],
            status=row["status"],
            payment=row["payment"],
            placement=row["placement"],
            cost=row["cost"],
            refunded=row["refunded"],
            cancel_reason=row["cancel_reason"],
            decline_code=row["decline_code"],
            requested_at=row["requested_at"],
            updated_at=row["updated_at"],
            history=entries,
            cancel_detail=next((d for d in details if d), None),
        )

    async def cancel(self, channel: str, who: Identity, request_id: str, reason: str) -> None:
        """An admin cancels any purchase (with `reason`); a buyer their own, as
        `buyer_cancelled`. Either way it is refunded, unless it is already playing."""
        if not who.at_least("admin"):
            pay = (await self._state(channel)).pay_item(request_id)  # the log's word, no lag
            if pay is None:
                raise NotFoundError(
                    "unknown_request", f"No purchase {request_id!r} on {channel!r}."
                )
            if pay.user != who.user:
                raise Forbidden("not_yours", "That purchase belongs to someone else.")
            reason = "buyer_cancelled"
        await self._handler.handle(
            queue_decider,
            queue_stream(channel),
            CancelPayItem(request_id, reason, who.user),
            CommandMeta.new(who.user, correlation_id=request_id),
        )

    async def wallet(self, channel: str, who: Identity, user: str) -> Wallet:
        require_self_or_admin(who, user)
        return Wallet(user, await self._economy.balance(channel, user))

    async def grant(self, channel: str, who: Identity, user: str, amount: int) -> Wallet:
        require(who, "admin")
        if self._granter is None:
            raise Rejected(
                "grants_unsupported", "Grants are for the local ledger; this channel uses Kryten."
            )
        return Wallet(user, await self._granter(channel, user, amount, who.user))

    async def lock(
        self, channel: str, who: Identity, label: str, until: datetime | None
    ) -> LockState:
        require(who, "admin")
        await self._handler.handle(
            queue_decider,
            queue_stream(channel),
            LockQueue(label, until, who.user),
            CommandMeta.new(who.user),
        )
        return LockState(True, label, until)

    async def unlock(self, channel: str, who: Identity) -> LockState:
        require(who, "admin")
        await self._handler.handle(
            queue_decider, queue_stream(channel), UnlockQueue(who.user), CommandMeta.new(who.user)
        )
        return LockState(False)
