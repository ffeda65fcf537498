"""Pay items: what a viewer bought, and where the money and the media are.

Money and placement are tracked apart because they fail apart: a spend can be unresolved
while an admin cancels, and an item can vanish from CyTube after it was paid for. A pay item
is finished when it played (money kept), was declined (nothing taken), or was cancelled and
its money given back and its media gone from the playlist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import ClassVar, Literal

from attrs import frozen

from domain.media import Media

Tier = Literal["queue", "playnext"]
Payment = Literal["pending", "captured", "declined", "refunded", "refund_refused", "void"]
Placement = Literal["waiting", "adding", "attached", "positioned", "playing", "played", "removed"]
PENDING_PLACEMENTS = ("waiting", "adding", "attached", "positioned")
#: The cancel reason of a purchase whose media costs more than was taken, and which is undone.
UNDERPAID = "underpaid"
#: The request rules judged on a medium's length (`pay_rules.RECHECKED`): judged again on
#: CyTube's length, a purchase that breaks one is cancelled with the rule's code as reason.
LENGTH_RULES = frozenset(
    {"rule_too_short", "rule_too_long", "rule_viewer_minutes", "rule_queue_minutes"}
)
#: Cancel reasons that take even a playing item off, refunded in full (see `skipping`).
SKIP_REASONS = frozenset({UNDERPAID, *LENGTH_RULES})


@frozen
class PayItem:
    request_id: str
    user: str
    media: Media
    tier: Tier
    requested_at: datetime
    payment: Payment = "pending"
    cost: int = 0
    placement: Placement = "waiting"
    add_attempts: int = 0
    item_id: str | None = None
    slot_after: str | None = None
    slot_chosen: bool = False
    cancel_reason: str | None = None
    decline_code: str | None = None
    refunded: int = 0
    #: A spend was (perhaps) sent: from here a cancel is refunded, before it no spend goes out.
    spend_started: bool = False
    #: The length the price was first computed on (the buyer's hint, or the catalog's).
    priced_sec: int = 0
    #: The length CyTube reported was priced, and the difference (if any) taken.
    price_checked: bool = False
    #: Taken on top of the first spend, for media longer than it was priced (in `cost` too).
    top_up: int = 0
    #: Still owed: the media played before the difference could be taken (for the audit).
    owed: int = 0
    #: Cut off while playing by a scheduled event's hard-replace: it did not play in full, so
    #: (unlike any other cancel that lands on a playing item) it is refunded once it is off.
    cut_off: bool = False

    @property
    def cancelled(self) -> bool:
        return self.cancel_reason is not None

    @property
    def skipping(self) -> bool:
        """The one playing item that is taken off and refunded: CyTube's length costs more than
        was taken and the difference could not be taken, or it breaks a length rule
        (`LENGTH_RULES`), and it is playing all the same. Either it started before that length
        was priced (an empty queue plays an add at once: then `PayItemUnderpaid` and the cancel
        `underpaid`, or the rule's cancel, come in one decision), or it started while its
        delete for that cancel was on the way. Every other playing item keeps its price."""
        return self.cancel_reason in SKIP_REASONS and self.placement == "playing"

    @property
    def finished(self) -> bool:
        if self.cut_off:
            return self.refund_answered and self.placement in ("played", "removed")
        if self.payment in ("declined", "void") or self.placement == "played":
            return True
        if self.cancelled and self.placement == "playing" and not self.skipping:
            return True  # cancelled too late: it plays, and keeps its price
        off_playlist = self.placement in ("waiting", "removed")
        return self.cancelled and self.refund_answered and off_playlist

    @property
    def refund_answered(self) -> bool:
        """The economy answered the refund: given back, or refused. A refused one is over for
        us too (asking again gets the same answer); its status says so until someone settles
        it by hand."""
        return self.payment in ("refunded", "refund_refused")

    @property
    def pending(self) -> bool:
        """Paid for (or being paid for) and waiting to play."""
        return (
            not self.cancelled
            and self.payment in ("pending", "captured")
            and self.placement in PENDING_PLACEMENTS
        )

    @property
    def status(self) -> str:
        """One word for people: where this purchase stands."""
        if self.payment == "declined":
            return "declined"
        if self.payment == "void":
            return "cancelled"  # cancelled before any money was asked for
        if self.cancelled:
            if self.placement in ("playing", "played") and not (self.cut_off or self.skipping):
                return self.placement  # the cancel lost the race with play: it keeps its price
            if self.refund_answered:
                return self.payment
            return "cancelling"
        if self.payment == "pending":
            return "paying"
        return self.placement if self.placement != "attached" else "positioning"


class PayItems(tuple[PayItem, ...]):
    """A state's pay items: a plain tuple to every reader, which also knows where each request
    id sits (`positions`) and how many of its items are finished (`finished_count`), so that
    folding a pay event changes one item without scanning them all.

    Never mutated once built, and `positions` may be shared between versions of the tuple whose
    request ids sit at the same places. A tuple with a request id twice is not indexed: `of`
    returns it plain, and the fold takes the slow path for it.
    """

    positions: Mapping[str, int]
    finished_count: int

    @classmethod
    def of(cls, items: Iterable[PayItem]) -> tuple[PayItem, ...]:
        """`items` indexed, or as a plain tuple if a request id occurs twice."""
        items = tuple(items)
        positions = {p.request_id: i for i, p in enumerate(items)}
        if len(positions) != len(items):
            return items
        return cls.known(items, positions, sum(1 for p in items if p.finished))

    @classmethod
    def known(
        cls, items: tuple[PayItem, ...], positions: Mapping[str, int], finished_count: int
    ) -> PayItems:
        """`items` with positions and a count the caller already knows to be right."""
        made = super().__new__(cls, items)
        made.positions = positions
        made.finished_count = finished_count
        return made


@frozen
class AwayWindow:
    """An owner of pending paid items is gone or AFK: their items go at `deadline`."""

    user: str
    reason: str
    since: datetime
    deadline: datetime


@frozen
class QueueLock:
    label: str
    until: datetime | None
    by: str


@frozen
class ScheduleLock:
    """A scheduled event's lock: `pre_fire` from `starts_at` (fire time minus the lock length)
    until the fire replaces or lifts it, `event` while an immutable event runs. Armed ahead by
    the firing process manager, so the log alone says when pay-to-play closes."""

    schedule_id: str
    kind: str  # "pre_fire" | "event"
    label: str
    starts_at: datetime
    fire_at: datetime
    estimated_end_at: datetime | None
    by: str

    def active(self, now: datetime) -> bool:
        return now >= self.starts_at


# ---- commands ------------------------------------------------------------------------------


@frozen
class RequestPayItem:
    request_id: str
    user: str
    media: Media
    tier: Tier


@frozen
class RecordPaymentCaptured:
    request_id: str
    cost: int


@frozen
class RecordPaymentDeclined:
    request_id: str
    code: str
    message: str = ""


@frozen
class StartPayment:
    """Written before the first spend is sent; refused once the purchase is cancelled, so a
    purchase cancelled before it was paid for never sends a spend."""

    request_id: str


@frozen
class VoidPayment:
    """A purchase cancelled before any spend was sent: nothing to take, nothing to refund."""

    request_id: str


@frozen
class RecordPriceChecked:
    """CyTube's length for the media was priced at `price`, at most what was taken."""

    request_id: str
    duration_sec: int
    price: int


@frozen
class RecordTopUp:
    """The media proved longer: `amount` more was taken, so it has now paid `price`."""

    request_id: str
    amount: int
    duration_sec: int
    price: int


@frozen
class RecordUnderpaid:
    """The difference could not be taken and the media was already playing. While it plays
    (just started, never priced) it is cancelled `underpaid` in the same decision: the flow
    skips it and refunds it in full. One that already played stays recorded as owing."""

    request_id: str
    owed: int
    duration_sec: int


@frozen
class RecheckPayRules:
    """Judge the length rules again on the length CyTube reports, before it is priced: one it
    breaks cancels the purchase with the rule's code (taken off, refunded in full)."""

    request_id: str


@frozen
class StartPayItemAdd:
    """Written before each add is sent, so a resumed flow knows an add may have happened."""

    request_id: str


@frozen
class AttachPayItem:
    """The add was confirmed; `uid` is the robot's hint, the media decides."""

    request_id: str
    uid: int | None = None


@frozen
class AbandonPayItemAdd:
    """A cancelled purchase whose add is not on the playlist: there is nothing to take off."""

    request_id: str


@frozen
class ChoosePayItemSlot:
    """Choose (again) where the item belongs, when the old slot's anchor has gone."""

    request_id: str


@frozen
class FailPayItem:
    """`detail`: what the peer said, in its words (CyTube's queueFail message)."""

    request_id: str
    reason: str
    detail: str = ""


@frozen
class CancelPayItem:
    request_id: str
    reason: str
    by: str


#: The only reasons a playing purchase may be cut off (and so refunded): a scheduled event's
#: hard-replace taking the channel over. Every other cancel of a playing item is refused.
CUT_OFF_REASONS = frozenset({"schedule_displaced"})


@frozen
class CutOffPayItem:
    """A scheduled event takes over while this purchase plays: it will not play in full, so it
    is cancelled and (once it is off) refunded. Only for `CUT_OFF_REASONS`."""

    request_id: str
    reason: str
    by: str


@frozen
class RecordRefund:
    request_id: str
    amount: int


@frozen
class RecordRefundRefused:
    request_id: str
    code: str
    message: str


@frozen
class NoteOwnerAway:
    user: str
    reason: str
    since: datetime
    deadline: datetime


@frozen
class NoteOwnerBack:
    user: str


@frozen
class LockQueue:
    label: str
    until: datetime | None
    by: str


@frozen
class UnlockQueue:
    by: str


@frozen
class SetScheduleLock:
    schedule_id: str
    kind: str
    label: str
    starts_at: datetime
    fire_at: datetime
    estimated_end_at: datetime | None
    by: str = "system"


@frozen
class LiftScheduleLock:
    reason: str
    by: str = "system"
    schedule_id: str | None = None  # only this schedule's lock; None: whatever is set


PayCommand = (
    RequestPayItem
    | StartPayment
    | VoidPayment
    | RecordPriceChecked
    | RecordTopUp
    | RecordUnderpaid
    | RecheckPayRules
    | RecordPaymentCaptured
    | RecordPaymentDeclined
    | StartPayItemAdd
    | AttachPayItem
    | AbandonPayItemAdd
    | ChoosePayItemSlot
    | FailPayItem
    | CancelPayItem
    | CutOffPayItem
    | RecordRefund
    | RecordRefundRefused
    | LockQueue
    | UnlockQueue
    | SetScheduleLock
    | LiftScheduleLock
    | NoteOwnerAway
    | NoteOwnerBack
)


# ---- events --------------------------------------------------------------------------------


@frozen
class PayItemRequested:
    VERSION: ClassVar[int] = 1
    request_id: str
    user: str
    media: Media
    tier: Tier
    at: datetime


@frozen
class PaymentCaptured:
    VERSION: ClassVar[int] = 1
    request_id: str
    cost: int


@frozen
class PaymentDeclined:
    VERSION: ClassVar[int] = 1
    request_id: str
    code: str
    message: str


@frozen
class PaymentStarted:
    VERSION: ClassVar[int] = 1
    request_id: str


@frozen
class PaymentVoided:
    VERSION: ClassVar[int] = 1
    request_id: str


@frozen
class PayItemPriceChecked:
    """`duration_sec`: CyTube's length; `price`: what that length costs."""

    VERSION: ClassVar[int] = 1
    request_id: str
    duration_sec: int
    price: int


@frozen
class PaymentToppedUp:
    VERSION: ClassVar[int] = 1
    request_id: str
    amount: int


@frozen
class PayItemUnderpaid:
    VERSION: ClassVar[int] = 1
    request_id: str
    owed: int
    duration_sec: int


@frozen
class PayItemAddStarted:
    VERSION: ClassVar[int] = 1
    request_id: str
    attempt: int


@frozen
class PayItemAttached:
    VERSION: ClassVar[int] = 1
    request_id: str
    item_id: str
    uid: int


@frozen
class PayItemSlotChosen:
    """`after_item_id` None: at the top of the playlist."""

    VERSION: ClassVar[int] = 1
    request_id: str
    after_item_id: str | None


@frozen
class PayItemPositioned:
    VERSION: ClassVar[int] = 1
    request_id: str


@frozen
class PayItemPlaying:
    VERSION: ClassVar[int] = 1
    request_id: str


@frozen
class PayItemPlayed:
    VERSION: ClassVar[int] = 1
    request_id: str


@frozen
class PayItemRemoved:
    """The media left the playlist (by us, or by anyone in CyTube) before it played."""

    VERSION: ClassVar[int] = 1
    request_id: str
    reason: str


@frozen
class PayItemCancelled:
    """From here the flow owes a refund (if money was taken) and a delete (if it is queued)."""

    VERSION: ClassVar[int] = 1
    request_id: str
    reason: str
    by: str
    detail: str = ""
    #: Cancelled while playing, by a scheduled event's hard-replace (see `CutOffPayItem`).
    cut_off: bool = False


@frozen
class PayItemRefunded:
    VERSION: ClassVar[int] = 1
    request_id: str
    amount: int
    reason: str


@frozen
class PayItemRefundRefused:
    """The economy would not give the money back (not a timeout: an answer)."""

    VERSION: ClassVar[int] = 1
    request_id: str
    reason: str
    code: str
    message: str


@frozen
class PayOwnerAway:
    VERSION: ClassVar[int] = 1
    user: str
    reason: str
    since: datetime
    deadline: datetime


@frozen
class PayOwnerBack:
    VERSION: ClassVar[int] = 1
    user: str


@frozen
class QueueLocked:
    VERSION: ClassVar[int] = 1
    label: str
    until: datetime | None
    by: str


@frozen
class QueueUnlocked:
    VERSION: ClassVar[int] = 1
    by: str


@frozen
class ScheduleLockSet:
    VERSION: ClassVar[int] = 1
    schedule_id: str
    kind: str
    label: str
    starts_at: datetime
    fire_at: datetime
    estimated_end_at: datetime | None
    by: str


@frozen
class ScheduleLockLifted:
    VERSION: ClassVar[int] = 1
    schedule_id: str
    reason: str
    by: str


PayEvent = (
    PayItemRequested
    | PaymentStarted
    | PaymentVoided
    | PayItemPriceChecked
    | PaymentToppedUp
    | PayItemUnderpaid
    | PaymentCaptured
    | PaymentDeclined
    | PayItemAddStarted
    | PayItemAttached
    | PayItemSlotChosen
    | PayItemPositioned
    | PayItemPlaying
    | PayItemPlayed
    | PayItemRemoved
    | PayItemCancelled
    | PayItemRefunded
    | PayItemRefundRefused
    | QueueLocked
    | QueueUnlocked
    | ScheduleLockSet
    | ScheduleLockLifted
    | PayOwnerAway
    | PayOwnerBack
)

PAY_EVENTS: tuple[type, ...] = (
    PayItemRequested,
    PaymentStarted,
    PaymentVoided,
    PayItemPriceChecked,
    PaymentToppedUp,
    PayItemUnderpaid,
    PaymentCaptured,
    PaymentDeclined,
    PayItemAddStarted,
    PayItemAttached,
    PayItemSlotChosen,
    PayItemPositioned,
    PayItemPlaying,
    PayItemPlayed,
    PayItemRemoved,
    PayItemCancelled,
    PayItemRefunded,
    PayItemRefundRefused,
    QueueLocked,
    QueueUnlocked,
    ScheduleLockSet,
    ScheduleLockLifted,
    PayOwnerAway,
    PayOwnerBack,
)
