"""Promos in the queue: what was chosen (every random choice is in the event, so replay never
re-rolls), where each insert stands, and the cadence that decides when the next is due."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar, Literal

from attrs import field, frozen

from domain.media import Media
from domain.promos.config import PromoConfig
from domain.promos.kinds import PromoType

Role = Literal["general", "lead_in"]
PromoPlacement = Literal["adding", "attached", "positioned", "playing", "done", "cancelled"]


@frozen
class PromoInsert:
    promo_id: str
    promo_type: PromoType
    role: Role
    media: Media
    target_item_id: str
    placement: PromoPlacement = "adding"
    item_id: str | None = None
    add_attempts: int = 0
    failed: bool = False  # dropped because CyTube would not take it (PROMO_FAILURES)

    @property
    def active(self) -> bool:
        return self.placement in ("adding", "attached", "positioned")


@frozen
class PromoCadence:
    content_since_general: int = 0
    last_general_at: datetime | None = None
    last_clip: Mapping[str, tuple[str, str]] = field(factory=dict)
    next_index: Mapping[str, int] = field(factory=dict)


# ---- commands ------------------------------------------------------------------------------


@frozen
class DirectPromos:
    """Look at what plays next and choose the promos due; pools and config come from outside
    (their own aggregates), and what is chosen is written into the events."""

    pools: Mapping[PromoType, tuple[Media, ...]]
    config: PromoConfig


@frozen
class StartPromoAdd:
    promo_id: str


@frozen
class FailPromo:
    promo_id: str
    reason: str


#: Why the director drops a promo CyTube would not take. A target whose promo failed is not
#: given another of that role: it would fail the same way, over and over (an add, the moves,
#: a delete, every pass) until the target started.
PROMO_FAILURES = frozenset({"add_failed", "move_failed"})


PromoCommand = DirectPromos | StartPromoAdd | FailPromo


# ---- events --------------------------------------------------------------------------------


@frozen
class PromoCadenceStarted:
    VERSION: ClassVar[int] = 1
    at: datetime


@frozen
class PromoChosen:
    VERSION: ClassVar[int] = 1
    promo_id: str
    promo_type: PromoType
    role: Role
    media: Media
    target_item_id: str
    at: datetime
    pool_index: int


@frozen
class PromoAddStarted:
    VERSION: ClassVar[int] = 1
    promo_id: str
    attempt: int


@frozen
class PromoAttached:
    VERSION: ClassVar[int] = 1
    promo_id: str
    item_id: str
    uid: int


@frozen
class PromoPositioned:
    VERSION: ClassVar[int] = 1
    promo_id: str


@frozen
class PromoPlaying:
    VERSION: ClassVar[int] = 1
    promo_id: str


@frozen
class PromoDone:
    """Played out, or gone from the playlist."""

    VERSION: ClassVar[int] = 1
    promo_id: str
    reason: str


@frozen
class PromoCancelled:
    """Not wanted any more (its paid item was cancelled, its target started first, the add
    failed): the director takes it off the playlist if it is there."""

    VERSION: ClassVar[int] = 1
    promo_id: str
    reason: str


PromoEvent = (
    PromoCadenceStarted
    | PromoChosen
    | PromoAddStarted
    | PromoAttached
    | PromoPositioned
    | PromoPlaying
    | PromoDone
    | PromoCancelled
)
PROMO_EVENTS: tuple[type, ...] = (
    PromoCadenceStarted,
    PromoChosen,
    PromoAddStarted,
    PromoAttached,
    PromoPositioned,
    PromoPlaying,
    PromoDone,
    PromoCancelled,
)
