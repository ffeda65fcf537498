"""The queue as the decider and the shadow projection both see it, and how each fact folds in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType

from attrs import evolve as replace
from attrs import field, frozen

from domain.media import Media
from domain.queue.events import (
    ClearExpected,
    DesyncDetected,
    EmptySnapshotHeld,
    ItemAdded,
    ItemKind,
    ItemMoved,
    ItemRemoved,
    ItemTempChanged,
    ItemUidRemapped,
    NowPlayingChanged,
    PlaybackClockSet,
    PlaylistCountObserved,
    PlaylistReordered,
    QueueEvent,
    SnapshotReconciled,
    SnapshotSource,
)
from domain.queue.order_model import QueueOrderSet
from domain.queue.pay_evolve import evolve_pay
from domain.queue.pay_model import (
    AwayWindow,
    PayEvent,
    PayItem,
    PayItems,
    QueueLock,
    ScheduleLock,
)
from domain.queue.promo_evolve import evolve_promo
from domain.queue.promo_model import PromoCadence, PromoEvent, PromoInsert
from domain.rules.config import MAX_NO_REPEAT_HOURS

#: How long the queue remembers when a medium last started: the longest "no repeats" window a
#: rule may set, so the rule reads it from the queue and never from a read model that lags.
PLAYS_REMEMBERED = timedelta(hours=MAX_NO_REPEAT_HOURS)


def media_play_key(media_type: str, media_id: str) -> str:
    """A medium's key in `QueueState.last_started` (a media type has no `:`)."""
    return f"{media_type}:{media_id}"


def _read_only(value: Mapping[str, datetime]) -> Mapping[str, datetime]:
    # Not copied when it already is one: `replace` runs converters on every fold.
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@frozen
class QueueItem:
    item_id: str
    uid: int
    media: Media
    temp: bool
    queued_by: str
    kind: ItemKind = "content"
    request_id: str | None = None
    promo_type: str | None = None
    lead_in_for: str | None = None


@frozen
class QueueState:
    channel: str
    items: tuple[QueueItem, ...] = ()
    now_playing: str | None = None
    now_playing_uid: int | None = None
    playing_since: datetime | None = None
    next_seq: int = 1
    empty_snapshot_held: bool = False
    clear_expected: bool = False
    # Who sent the empty snapshot being held (a second, independent word believes it).
    empty_held_by: SnapshotSource | None = None
    # CyTube's own count when it differed from ours (`setPlaylistMeta`), until the next change.
    counted: int | None = None
    # (uid, media type, media id) CyTube deleted since its last full broadcast: a read (the
    # robot's copy) that still lists one is behind, never a reason to bring the item back.
    deleted_since_broadcast: tuple[tuple[int, str, str], ...] = ()
    # Uids CyTube moved that the robot does not move in its copy (Kryten-Robot 1.12.6 skips a
    # `moveVideo` whose uid is falsy, i.e. 0): a read's order for them is stale.
    moves_robot_missed: tuple[int, ...] = ()
    playback_paused: bool = False
    pay: tuple[PayItem, ...] = ()
    lock: QueueLock | None = None
    schedule_lock: ScheduleLock | None = None
    away: tuple[AwayWindow, ...] = ()
    promos: tuple[PromoInsert, ...] = ()
    cadence: PromoCadence = field(factory=PromoCadence)
    next_promo_seq: int = 1
    #: Tier `queue` round-robin between buyers (`QueueOrderSet`), else first come first served.
    fair_order: bool = False
    #: When each medium last started playing (`NowPlayingChanged` of an item we hold, at its
    #: `started_at`), for those started within `PLAYS_REMEMBERED` of the latest start; keyed by
    #: `media_play_key`. The "no repeats" rule reads it in the decision itself.
    last_started: Mapping[str, datetime] = field(factory=dict, converter=_read_only)

    def started_at(self, media_type: str, media_id: str) -> datetime | None:
        """When this medium last started playing, within the plays remembered; else None."""
        return self.last_started.get(media_play_key(media_type, media_id))

    def away_window(self, user: str) -> AwayWindow | None:
        key = user.lower()
        return next((w for w in self.away if w.user.lower() == key), None)

    def index_of(self, item_id: str) -> int | None:
        for i, item in enumerate(self.items):
            if item.item_id == item_id:
                return i
        return None

    def by_uid(self, uid: int) -> QueueItem | None:
        for item in self.items:
            if item.uid == uid:
                return item
        return None

    def by_id(self, item_id: str) -> QueueItem | None:
        i = self.index_of(item_id)
        return None if i is None else self.items[i]

    @property
    def current(self) -> QueueItem | None:
        return None if self.now_playing is None else self.by_id(self.now_playing)

    def pay_item(self, request_id: str) -> PayItem | None:
        if isinstance(self.pay, PayItems):  # indexed: no scan of every purchase ever made
            at = self.pay.positions.get(request_id)
            return None if at is None else self.pay[at]
        for pay in self.pay:
            if pay.request_id == request_id:
                return pay
        return None

    def upcoming(self) -> tuple[QueueItem, ...]:
        """Items in the order they will play after the current one (the playlist loops)."""
        index = None if self.now_playing is None else self.index_of(self.now_playing)
        if index is None:
            return self.items
        return self.items[index + 1 :] + self.items[:index]


def initial(channel: str) -> QueueState:
    return QueueState(channel=channel)


def _insert_after(
    items: tuple[QueueItem, ...], item: QueueItem, after_item_id: str | None
) -> tuple[QueueItem, ...]:
    if after_item_id is None:
        return (item, *items)
    for i, existing in enumerate(items):
        if existing.item_id == after_item_id:
            return (*items[: i + 1], item, *items[i + 1 :])
    return (*items, item)


def _without(items: tuple[QueueItem, ...], item_id: str) -> tuple[QueueItem, ...]:
    return tuple(i for i in items if i.item_id != item_id)


#: How many deleted uids are remembered between two CyTube broadcasts.
KEEP_DELETED = 50


def _remember_deleted(state: QueueState, event: ItemRemoved) -> tuple[tuple[int, str, str], ...]:
    if event.reason not in ("deleted", "temp_finished"):
        return state.deleted_since_broadcast
    held = state.by_id(event.item_id)
    if held is None:
        return state.deleted_since_broadcast
    entry = (event.uid, held.media.type, held.media.id)
    return (*state.deleted_since_broadcast, entry)[-KEEP_DELETED:]


def _seq_of(item_id: str) -> int:
    digits = item_id.lstrip("q")
    return int(digits) if digits.isdigit() else 0


def evolve(
    state: QueueState, event: QueueEvent | PayEvent | PromoEvent | QueueOrderSet
) -> QueueState:
    match event:
        case ItemAdded():
            item = QueueItem(
                item_id=event.item_id,
                uid=event.uid,
                media=event.media,
                temp=event.temp,
                queued_by=event.queued_by,
                kind=event.kind,
            )
            return replace(
                state,
                items=_insert_after(_without(state.items, item.item_id), item, event.after_item_id),
                next_seq=max(state.next_seq, _seq_of(event.item_id) + 1),
                counted=None,
            )
        case ItemRemoved():
            deleted = _remember_deleted(state, event)
            if state.now_playing == event.item_id:
                return replace(
                    state,
                    items=_without(state.items, event.item_id),
                    now_playing=None,
                    now_playing_uid=None,
                    playing_since=None,
                    playback_paused=False,
                    counted=None,
                    deleted_since_broadcast=deleted,
                )
            return replace(
                state,
                items=_without(state.items, event.item_id),
                counted=None,
                deleted_since_broadcast=deleted,
            )
        case ItemMoved():
            moving = state.by_id(event.item_id)
            if moving is None:
                return state
            rest = _without(state.items, event.item_id)
            missed = state.moves_robot_missed
            if moving.uid == 0 and 0 not in missed:
                missed = (*missed, 0)
            return replace(
                state,
                items=_insert_after(rest, moving, event.after_item_id),
                moves_robot_missed=missed,
            )
        case ItemTempChanged():
            return replace(
                state,
                items=tuple(
                    replace(i, temp=event.temp) if i.item_id == event.item_id else i
                    for i in state.items
                ),
            )
        case ItemUidRemapped():
            return replace(
                state,
                items=tuple(
                    replace(i, uid=event.new_uid) if i.item_id == event.item_id else i
                    for i in state.items
                ),
                now_playing_uid=(
                    event.new_uid if state.now_playing == event.item_id else state.now_playing_uid
                ),
            )
        case NowPlayingChanged():
            starting = state.by_id(event.item_id) if event.item_id else None
            cadence = state.cadence
            if starting is not None and starting.kind != "promo":  # promos never count
                cadence = replace(cadence, content_since_general=cadence.content_since_general + 1)
            return replace(
                state,
                now_playing=event.item_id,
                now_playing_uid=event.uid,
                playing_since=event.started_at,
                cadence=cadence,
                playback_paused=False,
                last_started=_started(state.last_started, starting, event.started_at),
            )
        case PlaybackClockSet():
            if event.item_id != state.now_playing:
                return state
            return replace(
                state,
                playing_since=event.started_at,
                playback_paused=event.paused,
            )
        case PlaylistReordered():
            by_id = {i.item_id: i for i in state.items}
            ordered = tuple(by_id.pop(i) for i in event.order if i in by_id)
            return replace(state, items=ordered + tuple(by_id.values()))
        case EmptySnapshotHeld():
            return replace(state, empty_snapshot_held=True, empty_held_by=event.source)
        case ClearExpected():
            return replace(state, clear_expected=True)
        case PlaylistCountObserved():
            return replace(state, counted=event.count)
        case DesyncDetected():
            return state
        case SnapshotReconciled():
            state = replace(
                state,
                empty_snapshot_held=False,
                clear_expected=False,
                empty_held_by=None,
                counted=None,
            )
            if event.source == "cytube":
                return replace(state, deleted_since_broadcast=(), moves_robot_missed=())
            return state
        case QueueOrderSet():
            return replace(state, fair_order=event.fair)
    return evolve_promo(evolve_pay(state, event), event)


def _started(
    known: Mapping[str, datetime], item: QueueItem | None, at: datetime | None
) -> Mapping[str, datetime]:
    """`known` with `item`'s medium started at `at`, and starts older than the plays
    remembered (counted back from this one) forgotten."""
    if item is None or at is None:
        return known
    oldest = at - PLAYS_REMEMBERED
    kept = {k: v for k, v in known.items() if v >= oldest}
    key = media_play_key(item.media.type, item.media.id)
    previous = kept.get(key)
    kept[key] = at if previous is None or at >= previous else previous
    return MappingProxyType(kept)
