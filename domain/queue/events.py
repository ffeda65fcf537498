"""Facts about the channel queue. Positions are by our item ids, never by CyTube uids."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from attrs import frozen

from domain.media import Media

ItemKind = Literal["content", "pay", "promo", "scheduled"]
RemovalReason = Literal["deleted", "temp_finished", "missing_from_snapshot", "cleared"]


@frozen
class ItemAdded:
    """`after_item_id` None puts the item at the top of the playlist."""

    VERSION: ClassVar[int] = 1
    item_id: str
    uid: int
    media: Media
    temp: bool
    queued_by: str
    after_item_id: str | None
    kind: ItemKind = "content"
    source: Literal["observed", "snapshot"] = "observed"


@frozen
class ItemRemoved:
    VERSION: ClassVar[int] = 1
    item_id: str
    uid: int
    reason: RemovalReason


@frozen
class ItemMoved:
    VERSION: ClassVar[int] = 1
    item_id: str
    after_item_id: str | None


@frozen
class ItemTempChanged:
    VERSION: ClassVar[int] = 1
    item_id: str
    temp: bool


@frozen
class ItemUidRemapped:
    """CyTube renumbered this item (reload or shuffle); our item id stays."""

    VERSION: ClassVar[int] = 1
    item_id: str
    old_uid: int
    new_uid: int


@frozen
class NowPlayingChanged:
    """`item_id` None with a uid means CyTube plays something we do not hold yet."""

    VERSION: ClassVar[int] = 1
    item_id: str | None
    uid: int | None
    started_at: datetime | None


@frozen
class PlaylistReordered:
    VERSION: ClassVar[int] = 1
    order: tuple[str, ...]


@frozen
class EmptySnapshotHeld:
    """An empty snapshot while we hold items is not trusted on its own (a failed robot read)."""

    VERSION: ClassVar[int] = 1
    held_items: int


@frozen
class ClearExpected:
    VERSION: ClassVar[int] = 1
    by: str


@frozen
class SnapshotReconciled:
    """Closes a snapshot's reconciliation; clears any held empty snapshot or expected clear."""

    VERSION: ClassVar[int] = 1
    items: int
    added: int
    removed: int
    remapped: int
    reordered: bool


QueueEvent = (
    ItemAdded
    | ItemRemoved
    | ItemMoved
    | ItemTempChanged
    | ItemUidRemapped
    | NowPlayingChanged
    | PlaylistReordered
    | EmptySnapshotHeld
    | ClearExpected
    | SnapshotReconciled
)

QUEUE_EVENTS: tuple[type, ...] = (
    ItemAdded,
    ItemRemoved,
    ItemMoved,
    ItemTempChanged,
    ItemUidRemapped,
    NowPlayingChanged,
    PlaylistReordered,
    EmptySnapshotHeld,
    ClearExpected,
    SnapshotReconciled,
)
