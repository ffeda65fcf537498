"""Reconciling the shadow against a full CyTube snapshot.

Items are matched by uid and media first, then by media alone (CyTube renumbers uids on reload
and shuffle), so an item keeps its item id, and with it any payment attached to it, across a
renumbering. An empty snapshot while we hold items is believed only when it repeats, or follows
a clear we expected: a failed robot read returns `[]`, and the earlier web queue lost every paid
item to exactly that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from domain.decider import Context
from domain.errors import Rejected
from domain.media import validate_media, validate_uid
from domain.queue.commands import ObservePlaylist
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


def _empty(state: QueueState) -> tuple[QueueEvent, ...]:
    trusted = state.empty_snapshot_held or state.clear_expected
    if state.items and not trusted:
        return (EmptySnapshotHeld(held_items=len(state.items)),)
    events: list[QueueEvent] = [ItemRemoved(i.item_id, i.uid, "cleared") for i in state.items]
    if state.now_playing_uid is not None and state.now_playing is None:
        events.append(NowPlayingChanged(item_id=None, uid=None, started_at=None))
    if events or trusted:
        events.append(
            SnapshotReconciled(
                items=0, added=0, removed=len(state.items), remapped=0, reordered=False
            )
        )
    return tuple(events)


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
    if not cmd.items:
        return _empty(state)
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
            if held.temp != observed.temp:
                events.append(ItemTempChanged(item_id, observed.temp))
        wanted.append(item_id)

    result = state
    for event in events:
        result = evolve(result, event)
    reordered = [i.item_id for i in result.items] != wanted
    if reordered:
        events.append(PlaylistReordered(order=tuple(wanted)))

    if cmd.current_uid is not None:
        current_id = next(
            (wanted[i] for i, o in enumerate(cmd.items) if o.uid == cmd.current_uid), None
        )
        unchanged = (
            current_id == result.now_playing
            if current_id is not None
            else result.now_playing is None and result.now_playing_uid == cmd.current_uid
        )
        if not unchanged:
            events.append(
                NowPlayingChanged(item_id=current_id, uid=cmd.current_uid, started_at=ctx.now)
            )

    if not events and not (state.empty_snapshot_held or state.clear_expected):
        return ()
    events.append(
        SnapshotReconciled(
            items=len(cmd.items),
            added=added,
            removed=removed,
            remapped=remapped,
            reordered=reordered,
        )
    )
    return tuple(events)
