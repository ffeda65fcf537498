"""A purchase id, claimed once for ever: one tiny aggregate per (channel, request id).

The queue aggregate forgets finished purchases (it keeps the latest few hundred), so it cannot
be what makes a request id unique. Each purchase therefore first claims its id on a stream of
its own; the claim is the stream's first commit, appended with "the stream is empty" as the
expected position, so a second claim, however much later and from whatever process, loses the
optimistic concurrency check and is refused here. Nothing ever removes a claim.

A claim the queue then refused (the media already queued, the queue locked...) stays a claim:
the id was used, and says why it bought nothing. The pay flow marks the claim opened before it
takes any payment step, so a purchase that could have been paid, finished and forgotten by the
queue always has an opened claim: a claim neither opened nor refused, whose id the queue does not
hold, is one whose purchase never reached the queue (the process stopped between the two).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from attrs import evolve as replace
from attrs import frozen

from domain.decider import Context, Decider
from domain.errors import Rejected

REQUEST_ID_USED = "request_id_used"


@frozen
class ClaimPurchase:
    request_id: str
    user: str
    media_type: str
    media_id: str
    tier: str


@frozen
class RefuseClaim:
    """The queue refused the claimed purchase: nothing was bought under this id."""

    request_id: str
    code: str


@frozen
class OpenClaim:
    """The pay flow takes the purchase up (before its first payment step): from here it can be
    paid, finished and forgotten by the queue, and the claim says it reached the queue."""

    request_id: str


ClaimCommand = ClaimPurchase | RefuseClaim | OpenClaim


@frozen
class PurchaseClaimed:
    VERSION: ClassVar[int] = 1
    request_id: str
    user: str
    media_type: str
    media_id: str
    tier: str
    at: datetime


@frozen
class PurchaseClaimRefused:
    VERSION: ClassVar[int] = 1
    request_id: str
    code: str


@frozen
class PurchaseOpened:
    VERSION: ClassVar[int] = 1
    request_id: str


ClaimEvent = PurchaseClaimed | PurchaseClaimRefused | PurchaseOpened
CLAIM_EVENTS: tuple[type, ...] = (PurchaseClaimed, PurchaseClaimRefused, PurchaseOpened)


@frozen
class PurchaseClaim:
    """`request_id` None: nobody has claimed this id (yet)."""

    key: str
    request_id: str | None = None
    user: str = ""
    media_type: str = ""
    media_id: str = ""
    tier: str = ""
    at: datetime | None = None
    refused_code: str | None = None
    opened: bool = False


def initial(key: str) -> PurchaseClaim:
    return PurchaseClaim(key=key)


class RequestIdUsed(Rejected):
    """A request id that was claimed before: `claim` is what it was claimed for."""

    def __init__(self, claim: PurchaseClaim) -> None:
        super().__init__(
            REQUEST_ID_USED,
            "That request id was already used on this channel; a purchase id is used once, "
            "for ever. Use a new one for a new purchase.",
        )
        self.claim = claim


def decide(state: PurchaseClaim, cmd: ClaimCommand, ctx: Context) -> tuple[ClaimEvent, ...]:
    match cmd:
        case ClaimPurchase():
            if state.request_id is not None:
                raise RequestIdUsed(state)
            if not cmd.request_id or len(cmd.request_id) > 100:
                raise Rejected("invalid_request_id", "A request id must be 1 to 100 characters.")
            return (
                PurchaseClaimed(
                    cmd.request_id, cmd.user, cmd.media_type, cmd.media_id, cmd.tier, ctx.now
                ),
            )
        case RefuseClaim():
            if state.request_id != cmd.request_id or state.refused_code is not None:
                return ()
            return (PurchaseClaimRefused(cmd.request_id, cmd.code),)
        case OpenClaim():
            if state.request_id != cmd.request_id or state.opened:
                return ()  # (a purchase from before claims has none: nothing to open)
            return (PurchaseOpened(cmd.request_id),)
    raise Rejected("unknown_command", f"A claim does not handle {type(cmd).__name__}.")


def evolve(state: PurchaseClaim, event: ClaimEvent) -> PurchaseClaim:
    match event:
        case PurchaseClaimed():
            return replace(
                state,
                request_id=event.request_id,
                user=event.user,
                media_type=event.media_type,
                media_id=event.media_id,
                tier=event.tier,
                at=event.at,
            )
        case PurchaseClaimRefused():
            return replace(state, refused_code=event.code)
        case PurchaseOpened():
            return replace(state, opened=True)
    return state


claim_decider: Decider[PurchaseClaim, ClaimCommand, ClaimEvent] = Decider(
    aggregate="purchase", initial=initial, decide=decide, evolve=evolve, snapshots=False
)
