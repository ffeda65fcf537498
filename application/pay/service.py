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
from application.log.streams import purchase_stream, queue_stream
from application.pay.economy import Economy, EconomyUnavailable, Tier
from application.pay.media_info import MediaInfo, NoMediaInfo
from application.pay.rules import RequestRules, RuleRefusal, as_refusal
from application.projections.ports import ProjectionStore
from application.queue.shadow import PAY_HISTORY, PAY_ITEMS
from domain.decider import Context
from domain.errors import Rejected
from domain.media import Media
from domain.queue.decider import queue_decider
from domain.queue.pay_claim import (
    REQUEST_ID_USED,
    ClaimPurchase,
    PurchaseClaim,
    RefuseClaim,
    RequestIdUsed,
    claim_decider,
)
from domain.queue.pay_model import CancelPayItem, LockQueue, RequestPayItem, UnlockQueue
from domain.queue.pay_rules import refusals as rule_refusals
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
    #: Every request rule this purchase would break now (the first one is `code`/`reason`).
    refusals: list[RuleRefusal] = msgspec.field(default_factory=list)
    #: When the queue is locked: its kind (manual, pre_fire, event), label and times.
    lock: dict[str, Any] | None = None


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


#: A medium the catalog knows and says cannot be played (its reason is in the message).
CATALOG_ITEM_UNAVAILABLE = "catalog_item_unavailable"


class RequestIdReused(Rejected):
    """409: the request id was used before (however long ago); `extra` says how it stands."""

    def __init__(self, request_id: str, status: str, status_url: str) -> None:
        super().__init__(
            REQUEST_ID_USED,
            f"Request id {request_id!r} was already used on this channel (that purchase is "
            f"{status}); a purchase id is used once, for ever. Use a new one for a new purchase.",
            {"request_id": request_id, "status": status, "status_url": status_url},
        )


class TitleNotAccepted(Rejected):
    def __init__(self) -> None:
        super().__init__(
            "title_not_accepted",
            "Name the media only (media_type, media_id): its title and length come from "
            "CyTube, not from the buyer.",
        )


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
        media_info: MediaInfo | None = None,
    ) -> None:
        self._media_info: MediaInfo = media_info or NoMediaInfo()
        self._request_rules: RequestRules | None = None
        self._handler = handler
        self._economy = economy
        self._read = read_models
        self._clock = clock
        self._granter = granter
        self._non_payable = non_payable
        self._status_url = status_url

    def plug_media_info(self, media_info: MediaInfo) -> None:
        """What the channel knows of media before CyTube plays it (the catalog, once wired)."""
        self._media_info = media_info

    def plug_rules(self, rules: RequestRules) -> None:
        """The channel's request rules (domain/queue/pay_rules.py), once wired."""
        self._request_rules = rules

    async def _rules(self, channel: str, who: Identity, media: Media) -> dict[str, Any]:
        """What the decision needs to know beyond the queue: media the channel keeps for itself
        (promo pools, immutable playlists) cannot be bought; the channel's request rules."""
        found: dict[str, Any] = {}
        if self._non_payable is not None:
            found["non_payable_media"] = await self._non_payable(channel)
        if self._request_rules is not None:
            found.update(await self._request_rules.decision_config(channel, who, media))
        return found

    async def _refused_by_rule(
        self, channel: str, who: Identity, media: Media, exc: Rejected
    ) -> None:
        if self._request_rules is not None and exc.code.startswith("rule_"):
            await self._request_rules.refused(channel, who, media, exc)

    async def _state(self, channel: str) -> QueueState:
        state: QueueState = await self._handler.state(queue_decider, queue_stream(channel))
        return state

    async def known_media(self, channel: str, media: Media) -> Media:
        """`media` as the buyer names it (type, id, a length as a hint), with what the channel
        knows of it instead where it knows (the catalog); never the buyer's title."""
        known = await self._media_info.lookup(channel, media.key)
        if known is not None and not known.available:
            raise Rejected(
                CATALOG_ITEM_UNAVAILABLE,
                "The catalog lists this media as not playable: "
                f"{known.reason or 'no reason given'}.",
            )
        if known is not None:
            return Media(media.type, media.id, known.title, known.duration_sec)
        return Media(media.type, media.id, "", media.duration_sec)

    async def preview(self, channel: str, who: Identity, media: Media, tier: Tier) -> Preview:
        """Would this purchase go through now, and for how much? Changes nothing."""
        media = await self.known_media(channel, media)
        trial = RequestPayItem(f"preview-{uuid.uuid4().hex}", who.user, media, tier)
        state = await self._state(channel)
        base = Preview(media.type, media.id, tier, None, False)
        rules = await self._rules(channel, who, media)
        ctx = Context(now=self._clock.now(), config=rules)
        # Every rule that would refuse, even when something else refuses first.
        base.refusals = [as_refusal(r) for r in rule_refusals(state, trial, ctx)]
        refused = False
        try:
            queue_decider.decide(state, trial, ctx)
        except Rejected as exc:
            base.code, base.reason = exc.code, exc.message
            base.lock = dict(exc.extra) if exc.code == "queue_locked" else None
            refused = True
            if media.duration_sec <= 0:
                return base  # nothing to price
        try:
            quote = await self._economy.preview(channel, who.user, media.duration_sec, tier)
        except EconomyUnavailable as exc:
            if not refused:
                base.code, base.reason = "economy_unavailable", str(exc)
            return base
        # A refused purchase still shows what it would cost: a viewer told "too long" or
        # "wait 5 min" also learns the price before deciding to come back.
        base.cost, base.balance = quote.cost, quote.balance
        if refused:
            return base
        base.available = quote.available
        if not quote.available:
            base.code, base.reason = quote.error_code, quote.message
        return base

    async def request(
        self, channel: str, who: Identity, media: Media, tier: Tier, request_id: str | None
    ) -> Accepted:
        """Accept a purchase (202): the flow settles payment and placement in the background.

        The request id is claimed first, on a stream of its own, once for ever
        (`domain.queue.pay_claim`): any later request with it, whatever it asks for and however
        long after, is refused with 409 `request_id_used` and the first purchase's status (so a
        client whose 202 was lost learns that it landed, and where to follow it)."""
        rid = request_id or uuid.uuid4().hex
        media = await self.known_media(channel, media)
        claim_at = purchase_stream(channel, rid)
        command = RequestPayItem(rid, who.user, media, tier)
        if self._request_rules is not None:
            await self._request_rules.prepare(channel)
        rules = await self._rules(channel, who, media)
        state = await self._state(channel)
        try:
            # Refused before the claim (the queue locked, the media already queued, a request
            # rule...): the id stays free for a later try, and nothing is appended to the queue.
            queue_decider.decide(state, command, Context(now=self._clock.now(), config=rules))
        except Rejected as exc:
            held: PurchaseClaim = await self._handler.state(claim_decider, claim_at)
            if held.request_id is not None and not await self._unfinished(channel, held, command):
                raise await self._reused(channel, held) from None  # a reuse says so first
            await self._refused_by_rule(channel, who, media, exc)
            raise
        try:
            # Appended as the stream's first commit without a read: one round trip for a new id;
            # an id claimed before fails JetStream's expected-sequence check and is refused. Its
            # commit id is new each time: one derived from the request id would make a second
            # claim look like a retry of the first (JetStream's duplicate window, or the store
            # finding "its own" commit among those it missed) and let it through.
            await self._handler.handle(
                claim_decider,
                claim_at,
                ClaimPurchase(rid, who.user, media.type, media.id, tier),
                CommandMeta.new(who.user, correlation_id=rid),
                new_stream=True,
            )
        except RequestIdUsed as used:
            if not await self._unfinished(channel, used.claim, command):
                raise await self._reused(channel, used.claim) from None
        try:
            await self._handler.handle(
                queue_decider,
                queue_stream(channel),
                command,
                CommandMeta(f"request:{channel}:{rid}", actor=who.user, correlation_id=rid),
                config=rules,
            )
        except Rejected as exc:  # the queue changed since: the id is spent, on nothing
            await self._refused_by_rule(channel, who, media, exc)
            await self._handler.handle(
                claim_decider,
                claim_at,
                RefuseClaim(rid, exc.code),
                CommandMeta(f"claim-refused:{channel}:{rid}", actor=who.user, correlation_id=rid),
            )
            raise
        return Accepted(rid, "paying", self._url(channel, rid))

    async def _unfinished(
        self, channel: str, claim: PurchaseClaim, command: RequestPayItem
    ) -> bool:
        """Is this the very request that made `claim`, which never reached the queue (the
        process stopped between the two, or the first try is still on its way)? Then it is
        carried on, under the same command id (so it lands once), instead of refused. Anything
        else under a claimed id is a reuse."""
        same = (claim.user, claim.media_type, claim.media_id, claim.tier) == (
            command.user,
            command.media.type,
            command.media.id,
            command.tier,
        )
        if not same or claim.refused_code is not None or claim.opened:
            return False  # opened: the flow took it up, so the queue has (or had) it
        return (await self._state(channel)).pay_item(command.request_id) is None

    def _url(self, channel: str, request_id: str) -> str:
        return self._status_url.format(channel=channel, request_id=request_id)

    async def _reused(self, channel: str, claim: PurchaseClaim) -> RequestIdReused:
        """The refusal for a claimed id, with its purchase's status as the log has it now."""
        rid = claim.request_id or ""
        pay = (await self._state(channel)).pay_item(rid)
        if pay is not None:
            status = pay.status
        else:
            rows = await self._read.fetch(PAY_ITEMS, {"request_id": rid, "channel": channel})
            if rows:
                status = str(rows[0]["status"])
            elif claim.refused_code is not None:
                status = f"refused:{claim.refused_code}"
            else:
                status = "claimed"  # being recorded now, or its request never reached the queue
        return RequestIdReused(rid, status, self._url(channel, rid))

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
