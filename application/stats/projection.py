"""Channel stats: what was queued, what played, what was paid and given back, per channel.

Counters are kept per `(channel, metric, key)` (a scalar metric has the key ""), so a reason or
tier never seen before needs no new column. Every counter a batch changed is written once, as
an increment by what the batch added, at the end of the batch; each play also gets a row in the
play log (history that is never rewritten), which is what windowed "top played" reads.

What counts:

- *queued*: every `ItemAdded` (its media's duration summed into `queued_duration_sec`);
- *a play*: a `NowPlayingChanged` to an item we hold, including a lone item that loops (it
  plays again). `item_id` None is CyTube playing something we do not hold: not a play. The
  play's kind (content, pay, promo, scheduled) is the item's kind at the end of the commit,
  because a snapshot can start an item and attach it to its purchase or promo in one decision.
  Durations are the media's nominal length (0 for live media, so "where known" is automatic);
- *promo plays by type*: `PromoPlaying` (a promo started), not `PromoDone(played)`, so a promo
  counts when it starts, like every other play, and a promo still playing is already counted;
- *paid by tier*: `PayItemRequested`; *captured*: `PaymentCaptured.cost` plus
  `PaymentToppedUp.amount`; *refunded by reason*:
  `PayItemRefunded.amount`; *cancellations by reason*: `PayItemCancelled`.
- *per viewer* (one row per channel and buyer, for admins): *purchases* made
  (`PayItemRequested`), *declined* (`PaymentDeclined`), *played* (`PayItemPlaying`: the purchase
  started, counted as every play is, when it starts), *refunded* (`PayItemRefunded`, and the
  coins given back), *captured* (as above); coins *spent* are captured minus refunded. The later
  events name only the purchase, so the fold remembers each open purchase's buyer (its own table,
  `stats_purchases`) and forgets it when the purchase can move no more money or plays: played,
  declined, voided, refunded or refund refused.

A play's time (`played_at`, and a medium's `last_played`) is its commit's `at`.

To classify a play the fold remembers each channel's items (media and kind, from `ItemAdded`,
`PayItemAttached`, `PromoAttached`, `ItemRemoved`) and each promo's type until it starts or
ends. Both live in the projection's own tables, so it stands alone and warms from its rows.
Counters and the per-media rows (one per medium ever played: they grow with the log) are
written as `Increment`s of what a batch added (plays added, the latest `last_played` kept,
title and length from the batch's last play), so only a batch's changes are held in memory.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from attrs import frozen

from application.log.ports import StoredCommit
from application.projections.ports import (
    Increment,
    InsertRows,
    ProjectionStore,
    ReplaceRows,
    Upsert,
    Write,
)
from domain.media import Media
from domain.queue.events import ItemAdded, ItemRemoved, NowPlayingChanged
from domain.queue.pay_model import (
    PayItemAttached,
    PayItemCancelled,
    PayItemPlayed,
    PayItemPlaying,
    PayItemRefunded,
    PayItemRefundRefused,
    PayItemRequested,
    PaymentCaptured,
    PaymentDeclined,
    PaymentToppedUp,
    PaymentVoided,
)
from domain.queue.promo_model import (
    PromoAttached,
    PromoCancelled,
    PromoChosen,
    PromoDone,
    PromoPlaying,
)
from domain.rules.config import RequestRefusedByRule

CHANNELS = "stats_channels"
COUNTERS = "stats_counters"
MEDIA = "stats_media"
PLAYS = "stats_plays"
ITEMS = "stats_items"
PROMOS = "stats_promos"
VIEWERS = "stats_viewers"
PURCHASES = "stats_purchases"

# Metrics in `stats_counters`; the ones named `*_by_*` are keyed, the others have key "".
ITEMS_QUEUED = "items_queued"
QUEUED_DURATION = "queued_duration_sec"
ITEMS_PLAYED = "items_played"
PLAYED_DURATION = "played_duration_sec"
PLAYS_BY_KIND = "plays_by_kind"
PLAYED_DURATION_BY_KIND = "played_duration_by_kind"
PAID_BY_TIER = "paid_by_tier"
CAPTURED = "captured"
REFUNDED_TOTAL = "refunded_total"
REFUNDED_BY_REASON = "refunded_by_reason"
PROMO_PLAYS_BY_TYPE = "promo_plays_by_type"
CANCELLATIONS_BY_REASON = "cancellations_by_reason"
REFUSALS_BY_RULE = "refusals_by_rule"

CounterKey = tuple[str, str, str]  # (channel, metric, key)
MediaKey = tuple[str, str, str]  # (channel, media type, media id)
COUNTER_KEY = ("channel", "metric", "key")
MEDIA_KEY = ("channel", "media_type", "media_id")
ViewerKey = tuple[str, str]  # (channel, user)
VIEWER_KEY = ("channel", "user")
#: The per-viewer counts in `stats_viewers`, each added to by a batch.
VIEWER_COUNTS = ("purchases", "declined", "played", "refunded", "captured", "refunded_coins")


@frozen
class Tracked:
    """An item on a channel's playlist, as far as stats need it."""

    media: Media
    kind: str


def _media(row: dict[str, Any]) -> Media:
    return Media(row["media_type"], row["media_id"], row["title"], row["duration_sec"])


def _item_row(channel: str, item_id: str, item: Tracked) -> dict[str, Any]:
    return {
        "channel": channel,
        "item_id": item_id,
        "media_type": item.media.type,
        "media_id": item.media.id,
        "title": item.media.title,
        "duration_sec": item.media.duration_sec,
        "kind": item.kind,
    }


class StatsProjection:
    name = "stats"
    tables: tuple[str, ...] = (CHANNELS, COUNTERS, MEDIA, PLAYS, ITEMS, PROMOS, VIEWERS, PURCHASES)

    def __init__(self) -> None:
        # What the batch being folded added: written as increments, then dropped.
        self._counters: dict[CounterKey, int] = {}
        self._media: dict[MediaKey, dict[str, Any]] = {}
        # The channels' playlists and chosen promos, as far as stats need them.
        self._items: dict[str, dict[str, Tracked]] = defaultdict(dict)
        self._promos: dict[str, dict[str, str]] = defaultdict(dict)
        # Each open purchase's buyer, by channel and request id; what a batch added per viewer.
        self._buyers: dict[str, dict[str, str]] = defaultdict(dict)
        self._dirty_buyers: set[tuple[str, str]] = set()
        self._viewers: dict[ViewerKey, dict[str, int]] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._dirty_items: set[tuple[str, str]] = set()
        self._dirty_promos: set[tuple[str, str]] = set()
        self._plays: list[dict[str, Any]] = []

    async def warm(self, store: ProjectionStore) -> None:
        self.forget()
        for row in await store.fetch(ITEMS):
            self._items[row["channel"]][row["item_id"]] = Tracked(_media(row), row["kind"])
        for row in await store.fetch(PROMOS):
            self._promos[row["channel"]][row["promo_id"]] = row["promo_type"]
        for row in await store.fetch(PURCHASES):
            self._buyers[row["channel"]][row["request_id"]] = row["user"]

    def forget(self) -> None:
        self._buyers.clear()
        self._dirty_buyers.clear()
        self._viewers.clear()
        self._counters.clear()
        self._media.clear()
        self._items.clear()
        self._promos.clear()
        self._channels.clear()
        self._dirty_items.clear()
        self._dirty_promos.clear()
        self._plays = []

    # ---- folding -----------------------------------------------------------------------------

    def _add(self, channel: str, metric: str, key: str = "", amount: int = 1) -> None:
        counter = (channel, metric, key)
        self._counters[counter] = self._counters.get(counter, 0) + amount

    def _viewer(self, channel: str, request_id: str, count: str, amount: int = 1) -> None:
        """Add `amount` to the `count` of the viewer who made purchase `request_id`."""
        user = self._buyers[channel].get(request_id)
        if user is None:  # not a purchase we hold (or one already over): nothing to count
            return
        row = self._viewers.setdefault((channel, user), dict.fromkeys(VIEWER_COUNTS, 0))
        row[count] += amount

    def _over(self, channel: str, request_id: str) -> None:
        """The purchase can move no more money and has played or never will: forget its buyer."""
        if self._buyers[channel].pop(request_id, None) is not None:
            self._dirty_buyers.add((channel, request_id))

    def _track(self, channel: str, item_id: str, item: Tracked | None) -> None:
        if item is None:
            self._items[channel].pop(item_id, None)
        else:
            self._items[channel][item_id] = item
        self._dirty_items.add((channel, item_id))

    def _promo(self, channel: str, promo_id: str, promo_type: str | None) -> None:
        if promo_type is None:
            self._promos[channel].pop(promo_id, None)
        else:
            self._promos[channel][promo_id] = promo_type
        self._dirty_promos.add((channel, promo_id))

    def apply(self, stored: StoredCommit) -> None:
        commit = stored.commit
        if commit.stream.aggregate == "rule_refusals":  # purchases a request rule refused
            for event in commit.events:
                if isinstance(event, RequestRefusedByRule):
                    self._add(commit.stream.channel, REFUSALS_BY_RULE, event.code)
            return
        if commit.stream.aggregate != "queue":
            return
        channel = commit.stream.channel
        items = self._items[channel]
        starts: list[tuple[int, str, Tracked]] = []
        for seq, event in enumerate(commit.events):
            match event:
                case ItemAdded():
                    self._track(channel, event.item_id, Tracked(event.media, event.kind))
                    self._add(channel, ITEMS_QUEUED)
                    self._add(channel, QUEUED_DURATION, amount=event.media.duration_sec)
                case ItemRemoved():
                    self._track(channel, event.item_id, None)
                case PayItemAttached() if event.item_id in items:
                    self._track(channel, event.item_id, Tracked(items[event.item_id].media, "pay"))
                case PromoAttached() if event.item_id in items:
                    media = items[event.item_id].media
                    self._track(channel, event.item_id, Tracked(media, "promo"))
                case NowPlayingChanged() if event.item_id is not None and event.item_id in items:
                    starts.append((seq, event.item_id, items[event.item_id]))
                case PayItemRequested():
                    self._add(channel, PAID_BY_TIER, event.tier)
                    self._buyers[channel][event.request_id] = event.user
                    self._dirty_buyers.add((channel, event.request_id))
                    self._viewer(channel, event.request_id, "purchases")
                case PaymentCaptured():
                    self._add(channel, CAPTURED, amount=event.cost)
                    self._viewer(channel, event.request_id, "captured", event.cost)
                case PaymentToppedUp():
                    self._add(channel, CAPTURED, amount=event.amount)
                    self._viewer(channel, event.request_id, "captured", event.amount)
                case PaymentDeclined():
                    self._viewer(channel, event.request_id, "declined")
                    self._over(channel, event.request_id)
                case PayItemPlaying():
                    self._viewer(channel, event.request_id, "played")
                case PayItemRefunded():
                    self._add(channel, REFUNDED_BY_REASON, event.reason, event.amount)
                    self._add(channel, REFUNDED_TOTAL, amount=event.amount)
                    self._viewer(channel, event.request_id, "refunded")
                    self._viewer(channel, event.request_id, "refunded_coins", event.amount)
                    self._over(channel, event.request_id)
                case PaymentVoided() | PayItemPlayed() | PayItemRefundRefused():
                    self._over(channel, event.request_id)
                case PayItemCancelled():
                    self._add(channel, CANCELLATIONS_BY_REASON, event.reason)
                case PromoChosen():
                    self._promo(channel, event.promo_id, event.promo_type)
                case PromoPlaying():
                    promo_type = self._promos[channel].get(event.promo_id)
                    if promo_type is not None:
                        self._add(channel, PROMO_PLAYS_BY_TYPE, promo_type)
                        self._promo(channel, event.promo_id, None)  # it cannot start twice
                case PromoDone() | PromoCancelled():
                    if event.promo_id in self._promos[channel]:
                        self._promo(channel, event.promo_id, None)
        for seq, item_id, started in starts:
            # The kind as the commit leaves it (attached in the same decision), the media as
            # it started (the item may have left the playlist later in the same commit).
            kind = items[item_id].kind if item_id in items else started.kind
            self._play(stored, seq, item_id, started.media, kind)
        self._channels[channel] = {
            "channel": channel,
            "position": stored.position,
            "updated_at": commit.at,
        }

    def _play(self, stored: StoredCommit, seq: int, item_id: str, media: Media, kind: str) -> None:
        channel, at = stored.commit.stream.channel, stored.commit.at
        self._add(channel, ITEMS_PLAYED)
        self._add(channel, PLAYED_DURATION, amount=media.duration_sec)
        self._add(channel, PLAYS_BY_KIND, kind)
        self._add(channel, PLAYED_DURATION_BY_KIND, kind, media.duration_sec)
        self._plays.append(
            {
                "channel": channel,
                "position": stored.position,
                "seq": seq,
                "played_at": at,
                "item_id": item_id,
                "media_type": media.type,
                "media_id": media.id,
                "title": media.title,
                "duration_sec": media.duration_sec,
                "kind": kind,
            }
        )
        key = (channel, media.type, media.id)
        row = self._media.get(key)
        plays = 0 if row is None else int(row["plays"])
        last: datetime | None = None if row is None else row["last_played"]
        self._media[key] = {
            "channel": channel,
            "media_type": media.type,
            "media_id": media.id,
            "title": media.title,
            "duration_sec": media.duration_sec,
            "plays": plays + 1,  # plays in this batch: added to the stored count
            "last_played": at if last is None or at >= last else last,
        }

    # ---- writing -----------------------------------------------------------------------------

    def flush(self) -> tuple[list[Write], set[str]]:
        writes: list[Write] = []
        for channel in sorted(self._channels):
            writes.append(Upsert(CHANNELS, ("channel",), self._channels[channel]))
        for (channel, metric, key), added in sorted(self._counters.items()):
            row = {"channel": channel, "metric": metric, "key": key, "value": added}
            writes.append(Increment(COUNTERS, COUNTER_KEY, row, add=("value",)))
        for _, row in sorted(self._media.items()):
            writes.append(
                Increment(MEDIA, MEDIA_KEY, row, add=("plays",), greatest=("last_played",))
            )
        if self._plays:
            writes.append(InsertRows(PLAYS, self._plays))
        for (channel, user), counts in sorted(self._viewers.items()):
            row = {"channel": channel, "user": user, **counts}
            writes.append(Increment(VIEWERS, VIEWER_KEY, row, add=VIEWER_COUNTS))
        for channel, request_id in sorted(self._dirty_buyers):
            buyer = self._buyers[channel].get(request_id)
            match = {"channel": channel, "request_id": request_id}
            if buyer is None:
                writes.append(ReplaceRows(PURCHASES, match, []))
            else:
                writes.append(
                    Upsert(PURCHASES, ("channel", "request_id"), {**match, "user": buyer})
                )
        for channel, item_id in sorted(self._dirty_items):
            item = self._items[channel].get(item_id)
            if item is None:
                writes.append(ReplaceRows(ITEMS, {"channel": channel, "item_id": item_id}, []))
            else:
                row = _item_row(channel, item_id, item)
                writes.append(Upsert(ITEMS, ("channel", "item_id"), row))
        for channel, promo_id in sorted(self._dirty_promos):
            promo_type = self._promos[channel].get(promo_id)
            if promo_type is None:
                match = {"channel": channel, "promo_id": promo_id}
                writes.append(ReplaceRows(PROMOS, match, []))
            else:
                row = {"channel": channel, "promo_id": promo_id, "promo_type": promo_type}
                writes.append(Upsert(PROMOS, ("channel", "promo_id"), row))
        touched = set(self._channels)
        self._channels = {}
        self._counters = {}
        self._media = {}
        self._dirty_items = set()
        self._dirty_promos = set()
        self._plays = []
        self._viewers = {}
        self._dirty_buyers = set()
        return writes, touched
