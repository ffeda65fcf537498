"""The queue shadow: each channel's playlist in CyTube order, folded with the domain's evolve.

Reusing the decider's `evolve` means the shadow can never disagree with what decisions saw.
Rows are rewritten per touched channel at the end of a batch, so a rebuild writes each channel
once per batch however many events it folds.
"""

from __future__ import annotations

from typing import Any

from application.ports import StoredCommit
from application.projections.ports import ProjectionStore, ReplaceRows, Upsert, Write
from domain.media import Media
from domain.queue.state import QueueItem, QueueState, evolve, initial

CHANNELS = "queue_channels"
ITEMS = "queue_items"


def _item_row(channel: str, position: int, item: QueueItem) -> dict[str, Any]:
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
    }


def _item(row: dict[str, Any]) -> QueueItem:
    media = Media(row["media_type"], row["media_id"], row["title"], row["duration_sec"])
    return QueueItem(row["item_id"], row["uid"], media, row["temp"], row["queued_by"], row["kind"])


class QueueShadowProjection:
    name = "queue_shadow"
    tables = (ITEMS, CHANNELS)

    def __init__(self) -> None:
        self._states: dict[str, QueueState] = {}
        self._positions: dict[str, int] = {}
        self._dirty: set[str] = set()

    async def warm(self, store: ProjectionStore) -> None:
        self.forget()
        for channel_row in await store.fetch(CHANNELS):
            channel = channel_row["channel"]
            rows = await store.fetch(ITEMS, {"channel": channel}, order_by=("position",))
            self._states[channel] = QueueState(
                channel=channel,
                items=tuple(_item(r) for r in rows),
                now_playing=channel_row["now_playing_item_id"],
                now_playing_uid=channel_row["now_playing_uid"],
                playing_since=channel_row["playing_since"],
                empty_snapshot_held=channel_row["empty_snapshot_held"],
            )
            self._positions[channel] = channel_row["position"]

    def forget(self) -> None:
        self._states.clear()
        self._positions.clear()
        self._dirty.clear()

    def apply(self, stored: StoredCommit) -> None:
        commit = stored.commit
        if commit.stream.aggregate != "queue":
            return
        channel = commit.stream.channel
        state = self._states.get(channel) or initial(channel)
        for event in commit.events:
            state = evolve(state, event)
        self._states[channel] = state
        self._positions[channel] = stored.position
        self._dirty.add(channel)

    def flush(self) -> tuple[list[Write], set[str]]:
        writes: list[Write] = []
        for channel in sorted(self._dirty):
            state = self._states[channel]
            writes.append(
                ReplaceRows(
                    ITEMS,
                    {"channel": channel},
                    [_item_row(channel, i, item) for i, item in enumerate(state.items)],
                )
            )
            writes.append(
                Upsert(
                    CHANNELS,
                    ("channel",),
                    {
                        "channel": channel,
                        "now_playing_item_id": state.now_playing,
                        "now_playing_uid": state.now_playing_uid,
                        "playing_since": state.playing_since,
                        "empty_snapshot_held": state.empty_snapshot_held,
                        "position": self._positions[channel],
                    },
                )
            )
        touched, self._dirty = self._dirty, set()
        return writes, touched
