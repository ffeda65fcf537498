"""Facts about the channel queue. Positions are by our item ids, never by CyTube uids."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from attrs import frozen

from domain.media import Media

ItemKind = Literal["content", "pay", "promo", "scheduled"]
SnapshotSource = Literal["cytube", "robot"]
"""Who a playlist snapshot comes from. `cytube`: CyTube's own `playlist` broadcast (complete and
true when sent). `robot`: a copy someone keeps and was asked for (Kryten-Robot's memory or KV
bucket, the simulator's port): it may lag, it never applies `setTemp`, and the robot keeps a
deleted or moved uid 0 where it was."""
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
    source: SnapshotSource = "robot"


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
    source: SnapshotSource = "cytube"


@frozen
class PlaylistCountObserved:
    """CyTube's `setPlaylistMeta` counted another number of items than the shadow holds: we
    missed something (a snapshot settles it). A count of 0 also vouches for an empty snapshot."""

    VERSION: ClassVar[int] = 1
    count: int
    held_items: int


@frozen
class DesyncDetected:
    """An observation that only makes sense if we missed something (a uid we do not hold, media
    other than the one we think is playing): recorded, and a fresh snapshot is asked for."""

    VERSION: ClassVar[int] = 1
    reason: str
    uid: int | None = None


@frozen
class PlaybackClockSet:
    """Where CyTube says playback of the current item is (`changeMedia`, `mediaUpdate`):
    `started_at` is when it was (or will be, after the lead-in) at 0 s. Recorded only when it
    differs from what the log already says by more than the tolerance, or a pause begins/ends."""

    VERSION: ClassVar[int] = 1
    item_id: str
    started_at: datetime
    paused: bool = False
    position_sec: float = 0.0


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
    | PlaylistCountObserved
    | DesyncDetected
    | PlaybackClockSet
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
    PlaylistCountObserved,
    DesyncDetected,
    PlaybackClockSet,
)
