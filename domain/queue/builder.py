"""A channel's queue state folded in place, for projections that fold long histories.

`evolve` (domain.queue.state) copies the whole state for every fact: the playlist tuple, the
purchase tuple, the 25 fields of `QueueState`. That is what decisions need (a state is a value,
kept, compared, handed around) and what a rebuild cannot afford (it folds a million facts and
looks at the result only when it writes). `QueueBuilder` keeps the playlist and the purchases in
lists and the purchases' index in a dict, changes them in place for the facts that come often
(items added, removed, moved; now playing; every purchase fact) and hands every other fact to
`evolve` itself (freeze, evolve, thaw). `freeze()` gives the `QueueState` that folding the same
facts with `evolve` gives, field for field (tests/unit/queue/test_queue_builder.py folds random
histories both ways). The decision path never uses it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attrs import evolve as replace

from domain.queue.events import (
    ItemAdded,
    ItemKind,
    ItemMoved,
    ItemRemoved,
    NowPlayingChanged,
    PlaybackClockSet,
    QueueEvent,
)
from domain.queue.order_model import QueueOrderSet
from domain.queue.pay_evolve import KEEP_FINISHED, pay_changes
from domain.queue.pay_model import (
    PayEvent,
    PayItem,
    PayItemAttached,
    PayItemRequested,
    PayItems,
)
from domain.queue.promo_model import PromoCadence, PromoEvent
from domain.queue.state import KEEP_DELETED, QueueItem, QueueState, _seq_of, _started, evolve

# The fields a builder keeps itself; every other field stays in its frozen `_rest`.
_HOT = (
    "now_playing",
    "now_playing_uid",
    "playing_since",
    "next_seq",
    "counted",
    "deleted_since_broadcast",
    "moves_robot_missed",
    "playback_paused",
    "cadence",
)


class QueueBuilder:
    """One channel's queue state, changed in place by `apply`, read as a value by `freeze`."""

    __slots__ = ("_rest", "items", "pay", "_pay_at", "_finished", "_indexed", *_HOT)

    _rest: QueueState
    items: list[QueueItem]
    pay: list[PayItem]
    _pay_at: dict[str, int]
    _finished: int
    _indexed: bool
    now_playing: str | None
    now_playing_uid: int | None
    playing_since: datetime | None
    next_seq: int
    counted: int | None
    deleted_since_broadcast: tuple[tuple[int, str, str], ...]
    moves_robot_missed: tuple[int, ...]
    playback_paused: bool
    cadence: PromoCadence

    def __init__(self, state: QueueState) -> None:
        self._thaw(state)

    def _thaw(self, state: QueueState) -> None:
        self._thaw_all_but_pay(state)
        pay = state.pay
        self.pay = list(pay)
        if isinstance(pay, PayItems):
            self._indexed = True
            self._pay_at = dict(pay.positions)
            self._finished = pay.finished_count
            return
        positions = {p.request_id: i for i, p in enumerate(self.pay)}
        # A purchase tuple with a request id twice is not indexed by `evolve` either: every
        # purchase fact then goes through `evolve`, which scans it.
        self._indexed = len(positions) == len(self.pay)
        self._pay_at = positions
        self._finished = sum(1 for p in self.pay if p.finished)

    def _thaw_all_but_pay(self, state: QueueState) -> None:
        self._rest = state
        self.items = list(state.items)
        for name in _HOT:
            setattr(self, name, getattr(state, name))

    def freeze(self) -> QueueState:
        """The state as a value (nothing of it changes when the builder does)."""
        pay: tuple[PayItem, ...]
        if not self.pay:
            pay = ()
        elif self._indexed:
            pay = PayItems.known(tuple(self.pay), dict(self._pay_at), self._finished)
        else:
            pay = tuple(self.pay)
        return self._frozen(pay)

    def _frozen(self, pay: tuple[PayItem, ...]) -> QueueState:
        hot = {name: getattr(self, name) for name in _HOT}
        return replace(self._rest, items=tuple(self.items), pay=pay, **hot)

    # reads, as QueueState has them
    def index_of(self, item_id: str) -> int | None:
        for i, item in enumerate(self.items):
            if item.item_id == item_id:
                return i
        return None

    def pay_item(self, request_id: str) -> PayItem | None:
        if self._indexed:
            at = self._pay_at.get(request_id)
            return None if at is None else self.pay[at]
        return next((p for p in self.pay if p.request_id == request_id), None)

    # the fold
    def apply(self, event: QueueEvent | PayEvent | PromoEvent | QueueOrderSet) -> None:
        match event:
            case ItemAdded():
                item = QueueItem(
                    event.item_id,
                    event.uid,
                    event.media,
                    event.temp,
                    event.queued_by,
                    event.kind,
                )
                self._remove(item.item_id)
                self._insert_after(item, event.after_item_id)
                self.next_seq = max(self.next_seq, _seq_of(event.item_id) + 1)
                self.counted = None
                return
            case ItemRemoved():
                if event.reason in ("deleted", "temp_finished"):
                    at = self.index_of(event.item_id)
                    if at is not None:
                        held = self.items[at].media
                        entry = (event.uid, held.type, held.id)
                        self.deleted_since_broadcast = (
                            *self.deleted_since_broadcast,
                            entry,
                        )[-KEEP_DELETED:]
                if self.now_playing == event.item_id:
                    self.now_playing = None
                    self.now_playing_uid = None
                    self.playing_since = None
                    self.playback_paused = False
                self._remove(event.item_id)
                self.counted = None
                return
            case ItemMoved():
                at = self.index_of(event.item_id)
                if at is None:
                    return
                moving = self.items[at]
                self._remove(event.item_id)
                if moving.uid == 0 and 0 not in self.moves_robot_missed:
                    self.moves_robot_missed = (*self.moves_robot_missed, 0)
                self._insert_after(moving, event.after_item_id)
                return
            case NowPlayingChanged():
                at = self.index_of(event.item_id) if event.item_id else None
                if at is not None and self.items[at].kind != "promo":  # promos never count
                    cadence = self.cadence
                    self.cadence = replace(
                        cadence, content_since_general=cadence.content_since_general + 1
                    )
                self.now_playing = event.item_id
                self.now_playing_uid = event.uid
                self.playing_since = event.started_at
                self.playback_paused = False
                starting = self.items[at] if at is not None else None
                known = self._rest.last_started
                self._rest = replace(
                    self._rest, last_started=_started(known, starting, event.started_at)
                )
                return
            case PlaybackClockSet():
                if event.item_id == self.now_playing:
                    self.playing_since = event.started_at
                    self.playback_paused = event.paused
                return
        if not hasattr(event, "request_id"):
            # Not a purchase fact: `evolve` neither reads nor changes the purchases for it, so
            # they stay here and only the rest goes through `evolve`.
            self._thaw_all_but_pay(evolve(self._frozen(()), event))
            return
        if self._indexed and self._apply_pay(event):
            return
        self._thaw(evolve(self.freeze(), event))

    def _remove(self, item_id: str) -> None:
        items = self.items
        if any(i.item_id == item_id for i in items):
            self.items = [i for i in items if i.item_id != item_id]

    def _insert_after(self, item: QueueItem, after_item_id: str | None) -> None:
        if after_item_id is None:
            self.items.insert(0, item)
            return
        at = self.index_of(after_item_id)
        if at is None:
            self.items.append(item)
        else:
            self.items.insert(at + 1, item)

    def _apply_pay(self, event: object) -> bool:
        """Fold a purchase fact in place; False for a fact this does not fold itself."""
        if isinstance(event, PayItemRequested):
            if event.request_id in self._pay_at:
                return False  # a second purchase under one id: `evolve` stops indexing
            item = PayItem(
                event.request_id,
                event.user,
                event.media,
                event.tier,
                event.at,
                priced_sec=event.media.duration_sec,
            )
            self._pay_at[item.request_id] = len(self.pay)
            self.pay.append(item)
            self._finished += item.finished
            return True
        if isinstance(event, PayItemAttached):
            at = self.index_of(event.item_id)
            landed = self.items[at] if at is not None else None
            pay = self.pay_item(event.request_id)
            media = landed.media if landed is not None else (pay.media if pay else None)
            kind: ItemKind = "pay"
            self.items = [
                replace(i, kind=kind, request_id=event.request_id)
                if i.item_id == event.item_id
                else i
                for i in self.items
            ]
            changes: dict[str, Any] = {"placement": "attached", "item_id": event.item_id}
            if media is not None and pay is not None:
                changes["media"] = media
            self._update(event.request_id, changes)
            return True
        changed = pay_changes(event)
        if changed is None:
            return False
        self._update(event.request_id, changed)  # type: ignore[attr-defined]
        return True

    def _update(self, request_id: str, changes: dict[str, Any]) -> None:
        """As `evolve_pay`'s `_update`: change one purchase, then drop the oldest finished
        purchases beyond KEEP_FINISHED."""
        at = self._pay_at.get(request_id)
        if at is not None:
            old = self.pay[at]
            new = replace(old, **changes)
            self.pay[at] = new
            self._finished += new.finished - old.finished
        if self._finished > KEEP_FINISHED:
            self._drop_oldest_finished(self._finished - KEEP_FINISHED)

    def _drop_oldest_finished(self, excess: int) -> None:
        kept: list[PayItem] = []
        dropped = 0
        for n, p in enumerate(self.pay):
            if p.finished:
                dropped += 1
                if dropped == excess:
                    kept.extend(self.pay[n + 1 :])
                    break
                continue
            kept.append(p)
        self.pay = kept
        self._pay_at = {p.request_id: i for i, p in enumerate(kept)}
        self._finished -= dropped
