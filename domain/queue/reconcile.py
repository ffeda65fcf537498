"""Reconciling the shadow against a full CyTube snapshot.

Items are matched by uid and media first, then by media alone (CyTube renumbers uids on reload
and shuffle), so an item keeps its item id, and with it any payment attached to it, across a
renumbering.

An empty snapshot while we hold items is believed only on two words: a failed robot read can
come back as `[]`, and the earlier web queue lost every paid item to exactly that. CyTube's own
clear is `playlist []` followed by `setPlaylistMeta {count: 0}` (and a join of an empty channel
sends the count first), so CyTube's broadcast plus its count, a broadcast plus a read, a read the
robot's KV bucket vouches for (`empty_confirmed`), or a clear we expected, believe it.

A read (`source="robot"`) is merged with what the log knows better than the robot: the robot
never applies `setTemp`, so the temp flags we hold stay; it keeps an item CyTube deleted or moved
when its uid is 0, so an item deleted since CyTube's last broadcast is not brought back, and a
uid-0 item we saw moved keeps the place we gave it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from domain.decider import Context
from domain.errors import Rejected
from domain.media import validate_media, validate_uid
from domain.queue.commands import ObservedItem, ObservePlaylist
from domain.queue.events import (
    EmptySnapshotHeld,
    ItemAdded,
    ItemRemoved,
    ItemTempChanged,
    ItemUidRemapped,
    NowPlayingChanged,
    PlaylistReordered,
    QueueEvent,
    SnapshotReconciled,
    SnapshotSource,
)
from domain.queue.state import QueueItem, QueueState, evolve


def _validate(cmd: ObservePlaylist) -> None:
    seen: set[int] = set()
    for observed in cmd.items:
        validate_uid(observed.uid)
        validate_media(observed.media)
        if observed.uid in seen:
            raise Rejected("invalid_snapshot", f"Uid {observed.uid} appears twice in the snapshot.")
        seen.add(observed.uid)


def _empty_believed(state: QueueState, cmd: ObservePlaylist) -> bool:
    if state.clear_expected or state.counted == 0:
        return True
    if cmd.source == "robot" and cmd.empty_confirmed:
        return True
    held = state.empty_held_by
    return held is not None and "cytube" in (held, cmd.source)


def cleared(state: QueueState, source: SnapshotSource = "cytube") -> tuple[QueueEvent, ...]:
    """Everything goes: the channel's playlist is really empty."""
    events: list[QueueEvent] = [ItemRemoved(i.item_id, i.uid, "cleared") for i in state.items]
    if state.now_playing_uid is not None and state.now_playing is None:
        events.append(NowPlayingChanged(item_id=None, uid=None, started_at=None))
    events.append(
        SnapshotReconciled(
            items=0, added=0, removed=len(state.items), remapped=0, reordered=False, source=source
        )
    )
    return tuple(events)


def _empty(state: QueueState, cmd: ObservePlaylist) -> tuple[QueueEvent, ...]:
    if not state.items:
        if state.now_playing_uid is not None or state.empty_snapshot_held or state.clear_expected:
            return cleared(state, cmd.source)
        return ()
    if _empty_believed(state, cmd):
        return cleared(state, cmd.source)
    if state.empty_held_by == cmd.source:
        return ()  # the same word again is not a second one
    return (EmptySnapshotHeld(held_items=len(state.items), source=cmd.source),)


def _ghost(state: QueueState, observed: ObservedItem) -> bool:
    key = (observed.uid, observed.media.type, observed.media.id)
    return key in state.deleted_since_broadcast


def _keep_our_places(state: QueueState, wanted: list[str]) -> list[str]:
    """A read's order, except that items whose move the robot missed stay where we put them:
    right after the item that precedes them in our shadow (or first)."""
    for uid in state.moves_robot_missed:
        held = state.by_uid(uid)
        if held is None or held.item_id not in wanted:
            continue
        index = state.index_of(held.item_id)
        assert index is not None
        before = state.items[index - 1].item_id if index else None
        rest = [i for i in wanted if i != held.item_id]
        at = rest.index(before) + 1 if before in rest else 0
        wanted = [*rest[:at], held.item_id, *rest[at:]]
    return wanted


def _match(state: QueueState, cmd: ObservePlaylist) -> dict[int, QueueItem]:
    """Observed index -> held item: same uid and media first, then same media in order."""
    by_uid = {item.uid: item for item in state.items}
    matched: dict[int, QueueItem] = {}
    for index, observed in enumerate(cmd.items):
        held = by_uid.get(observed.uid)
        if held is not None and held.media.key == observed.media.key:
            matched[index] = held
    taken = {item.item_id for item in matched.values()}
    pool: dict[tuple[str, str], deque[QueueItem]] = {}
    for item in state.items:
        if item.item_id not in taken:
            pool.setdefault(item.media.key, deque()).append(item)
    for index, observed in enumerate(cmd.items):
        if index not in matched and pool.get(observed.media.key):
            matched[index] = pool[observed.media.key].popleft()
    return matched


def reconcile(
    state: QueueState,
    cmd: ObservePlaylist,
    ctx: Context,
    item_id_for: Callable[[int], str],
) -> tuple[QueueEvent, ...]:
    _validate(cmd)
    read = cmd.source == "robot"
    if read and state.deleted_since_broadcast:
        cmd = ObservePlaylist(
            tuple(o for o in cmd.items if not _ghost(state, o)),
            cmd.current_uid,
            cmd.source,
            cmd.empty_confirmed,
        )
    if not cmd.items:
        return _empty(state, cmd)
    matched = _match(state, cmd)
    kept = {item.item_id for item in matched.values()}
    events: list[QueueEvent] = [
        ItemRemoved(item.item_id, item.uid, "missing_from_snapshot")
        for item in state.items
        if item.item_id not in kept
    ]
    removed = len(events)
    remapped = 0
    wanted: list[str] = []
    ids_by_uid: dict[int, str] = {}
    seq = state.next_seq
    added = 0
    for index, observed in enumerate(cmd.items):
        held = matched.get(index)
        if held is None:
            item_id = item_id_for(seq)
            seq += 1
            added += 1
            events.append(
                ItemAdded(
                    item_id=item_id,
                    uid=observed.uid,
                    media=observed.media,
                    temp=observed.temp,
                    queued_by=observed.queued_by,
                    after_item_id=wanted[-1] if wanted else None,
                    source="snapshot",
                )
            )
        else:
            item_id = held.item_id
            if held.uid != observed.uid:
                remapped += 1
                events.append(ItemUidRemapped(item_id, held.uid, observed.uid))
            if held.temp != observed.temp and not read:  # the robot never applies setTemp
                events.append(ItemTempChanged(item_id, observed.temp))
        wanted.append(item_id)
        ids_by_uid[observed.uid] = item_id

    result = state
    for event in events:
        result = evolve(result, event)
    if read:
        wanted = _keep_our_places(state, wanted)
    reordered = [i.item_id for i in result.items] != wanted
    if reordered:
        events.append(PlaylistReordered(order=tuple(wanted)))

    current_uid = cmd.current_uid
    if current_uid is None and result.now_playing is None:
        # setCurrent named a uid before we held its item: link it now that the item is here.
        current_uid = result.now_playing_uid
    if current_uid is not None:
        current_id = ids_by_uid.get(current_uid)
        unchanged = (
            current_id == result.now_playing
            if current_id is not None
            else result.now_playing is None and result.now_playing_uid == current_uid
        )
        if not unchanged:
            same_start = current_uid == state.now_playing_uid and state.playing_since is not None
            events.append(
                NowPlayingChanged(
                    item_id=current_id,
                    uid=current_uid,
                    started_at=state.playing_since if same_start else ctx.now,
                )
            )

    remembered = bool(state.deleted_since_broadcast or state.moves_robot_missed)
    pending = state.empty_snapshot_held or state.clear_expected or state.counted is not None
    if not events and not pending and not (remembered and not read):
        return ()
    events.append(
        SnapshotReconciled(
            items=len(cmd.items),
            added=added,
            removed=removed,
            remapped=remapped,
            reordered=reordered,
            source=cmd.source,
        )
    )
    return tuple(events)
