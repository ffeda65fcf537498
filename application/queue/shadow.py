"""The queue shadow and payment ledger: each channel's playlist in CyTube order, with the
purchases behind its paid items, folded as the domain folds them.

Each channel folds into a `QueueBuilder` (domain.queue.builder): the domain's fold done in place,
frozen into a `QueueState` only when its rows are written, which a test holds equal to the
decider's own `evolve` on random histories, so the shadow cannot disagree with what decisions
saw; a rebuild no longer copies the whole state for every event.
Rows are rewritten per touched channel at the end of a batch, so a rebuild writes each channel
once per batch however many events it folds. Purchases get a row each (kept after they leave
the aggregate) and a history row per event, which is what a status page shows.
"""

from __future__ import annotations

from typing import Any

import msgspec

from application.log.ports import StoredCommit
from application.projections.ports import (
    InsertRows,
    ProjectionStore,
    ReplaceRows,
    Upsert,
    Write,
)
from domain.media import Media
from domain.queue.builder import QueueBuilder
from domain.queue.pay_model import PayItem, QueueLock
from domain.queue.state import QueueItem, QueueState, initial

CHANNELS = "queue_channels"
ITEMS = "queue_items"
PAY_ITEMS = "pay_items"
PAY_HISTORY = "pay_item_history"

_encode = msgspec.json.Encoder().encode


def _item_row(channel: str, position: int, item: QueueItem, state: QueueState) -> dict[str, Any]:
    pay = state.pay_item(item.request_id) if item.request_id else None
    away = state.away_window(pay.user) if pay is not None and pay.pending else None
    return {
        "channel": channel,
        "item_id": item.item_id,
        "position": position,
        "uid": item.uid,
        "media_type": item.media.type,
        "media_id": item.media.id,
        "title": item.media.title,
        "duration_sec": item.media.duration_sec,
        "kind": item.kind,
        "temp": item.temp,
        "queued_by": item.queued_by,
        "request_id": item.request_id,
        "paid_by": pay.user if pay else None,
        "tier": pay.tier if pay else None,
        "cost": pay.cost if pay else None,
        "pay_status": pay.status if pay else None,
        "owner_away_reason": away.reason if away else None,
        "owner_away_since": away.since if away else None,
        "cancels_at": away.deadline if away else None,
        "promo_type": item.promo_type,
        "lead_in_for": item.lead_in_for,
    }


def rows_for(
    channel: str, state: QueueState, position: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `queue_channels` row and the `queue_items` rows (in playlist order) of one channel's
    state, folded up to log `position`: what the shadow writes, and what time travel shows."""
    lock = state.lock
    channel_row = {
        "channel": channel,
        "now_playing_item_id": state.now_playing,
        "now_playing_uid": state.now_playing_uid,
        "playing_since": state.playing_since,
        "empty_snapshot_held": state.empty_snapshot_held,
        "position": position,
        "lock_label": lock.label if lock else None,
        "lock_until": lock.until if lock else None,
        "lock_by": lock.by if lock else None,
    }
    items = [_item_row(channel, i, item, state) for i, item in enumerate(state.items)]
    return channel_row, items


def _item(row: dict[str, Any]) -> QueueItem:
    media = Media(row["media_type"], row["media_id"], row["title"], row["duration_sec"])
    return QueueItem(
        row["item_id"],
        row["uid"],
        media,
        row["temp"],
        row["queued_by"],
        row["kind"],
        row["request_id"],
        row.get("promo_type"),
        row.get("lead_in_for"),
    )


def _pay_row(channel: str, pay: PayItem, at: Any) -> dict[str, Any]:
    return {
        "request_id": pay.request_id,
        "channel": channel,
        "user": pay.user,
        "media_type": pay.media.type,
        "media_id": pay.media.id,
        "title": pay.media.title,
        "duration_sec": pay.media.duration_sec,
        "tier": pay.tier,
        "requested_at": pay.requested_at,
        "payment": pay.payment,
        "cost": pay.cost,
        "placement": pay.placement,
        "add_attempts": pay.add_attempts,
        "item_id": pay.item_id,
        "slot_after": pay.slot_after,
        "slot_chosen": pay.slot_chosen,
        "cancel_reason": pay.cancel_reason,
        "decline_code": pay.decline_code,
        "refunded": pay.refunded,
        "status": pay.status,
        "finished": pay.finished,
        "updated_at": at,
    }


def _pay(row: dict[str, Any]) -> PayItem:
    media = Media(row["media_type"], row["media_id"], row["title"], row["duration_sec"])
    return PayItem(
        request_id=row["request_id"],
        user=row["user"],
        media=media,
        tier=row["tier"],
        requested_at=row["requested_at"],
        payment=row["payment"],
        cost=row["cost"],
        placement=row["placement"],
        add_attempts=row["add_attempts"],
        item_id=row["item_id"],
        slot_after=row["slot_after"],
        slot_chosen=row["slot_chosen"],
        cancel_reason=row["cancel_reason"],
        decline_code=row["decline_code"],
        refunded=row["refunded"],
    )


class QueueShadowProjection:
    name = "queue_shadow"
    tables: tuple[str, ...] = (ITEMS, CHANNELS, PAY_ITEMS, PAY_HISTORY)

    def __init__(self) -> None:
        self._states: dict[str, QueueBuilder] = {}
        self._positions: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._touched_pay: dict[tuple[str, str], dict[str, Any]] = {}
        self._history: list[dict[str, Any]] = []
        # Each channel's item rows as last flushed, so a flush writes only the rows that changed.
        self._written: dict[str, dict[str, dict[str, Any]]] = {}
        # Each channel's rows as of its last flush, for the live fan-out (see `flushed_rows`).
        self._flushed: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}

    async def warm(self, store: ProjectionStore) -> None:
        self.forget()
        for row in await store.fetch(CHANNELS):
            channel = row["channel"]
            items = await store.fetch(ITEMS, {"channel": channel}, order_by=("position",))
            pays = await store.fetch(
                PAY_ITEMS, {"channel": channel, "finished": False}, order_by=("requested_at",)
            )
            lock = None
            if row["lock_label"] is not None:
                lock = QueueLock(row["lock_label"], row["lock_until"], row["lock_by"] or "")
            self._states[channel] = QueueBuilder(
                QueueState(
                    channel=channel,
                    items=tuple(_item(r) for r in items),
                    now_playing=row["now_playing_item_id"],
                    now_playing_uid=row["now_playing_uid"],
                    playing_since=row["playing_since"],
                    empty_snapshot_held=row["empty_snapshot_held"],
                    pay=tuple(_pay(r) for r in pays),
                    lock=lock,
                )
            )
            self._positions[channel] = row["position"]

    def forget(self) -> None:
        self._states.clear()
        self._positions.clear()
        self._dirty.clear()
        self._touched_pay.clear()
        self._history.clear()
        self._written.clear()
        self._flushed.clear()

    def apply(self, stored: StoredCommit) -> None:
        commit = stored.commit
        if commit.stream.aggregate != "queue":
            return
        channel = commit.stream.channel
        state = self._states.get(channel)
        if state is None:
            state = self._states[channel] = QueueBuilder(initial(channel))
        for seq, event in enumerate(commit.events):
            state.apply(event)
            request_id = getattr(event, "request_id", None)
            if request_id is not None:
                pay = state.pay_item(request_id)
                if pay is not None:  # captured now: it may be pruned before the flush
                    self._touched_pay[(channel, request_id)] = _pay_row(channel, pay, commit.at)
                self._history.append(
                    {
                        "request_id": request_id,
                        "position": stored.position,
                        "seq": seq,
                        "channel": channel,
                        "at": commit.at,
                        "type": type(event).__name__,
                        "actor": commit.actor,
                        "data": _encode(event).decode(),
                    }
                )
        self._positions[channel] = stored.position
        self._dirty.add(channel)

    def flush(self) -> tuple[list[Write], set[str]]:
        writes: list[Write] = []
        for channel in sorted(self._dirty):
            state = self._states[channel].freeze()
            channel_row, rows = rows_for(channel, state, self._positions[channel])
            self._flushed[channel] = (channel_row, rows)
            writes.extend(self._item_writes(channel, rows))
            writes.append(Upsert(CHANNELS, ("channel",), channel_row))
        for row in self._touched_pay.values():
            writes.append(Upsert(PAY_ITEMS, ("request_id",), row))
        if self._history:
            writes.append(InsertRows(PAY_HISTORY, list(self._history)))
        touched, self._dirty = self._dirty, set()
        self._touched_pay.clear()
        self._history = []
        return writes, touched

    def flushed_rows(self, channel: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The `queue_channels` row and `queue_items` rows (in playlist order) the last `flush`
        produced for `channel`, or None if it has not flushed the channel since it was warmed.

        Right after a flush these are exactly what the batch writes, before the transaction has
        run: the live fan-out builds its view from them instead of reading them back. The dicts
        are never changed afterwards (the next flush makes new ones), so they may be kept."""
        return self._flushed.get(channel)

    def _item_writes(self, channel: str, rows: list[dict[str, Any]]) -> list[Write]:
        """The channel's item rows: all of them the first time (after a start, the rows in the
        table are not known row by row), then only the items gone and the rows that changed."""
        current = {row["item_id"]: row for row in rows}
        written, self._written[channel] = self._written.get(channel), current
        if written is None:
            return [ReplaceRows(ITEMS, {"channel": channel}, rows)]
        writes: list[Write] = [
            ReplaceRows(ITEMS, {"channel": channel, "item_id": item_id}, [])
            for item_id in written.keys() - current.keys()
        ]
        writes.extend(
            Upsert(ITEMS, ("channel", "item_id"), row)
            for row in rows
            if written.get(row["item_id"]) != row
        )
        return writes
