"""The simulated channel's state on disk, so a restarted service finds "CyTube" as it left it.

Plain JSON written atomically (temp file, fsync, rename): a crash mid-write leaves the previous
state, never half of one. It is written before every report the simulator makes, with the
whole playlist, so it is encoded by msgspec: the standard library's encoder with an indent is
pure Python, and was a third of the embedded default's busy time at 600 purchases queued
(docs/performance.md).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from attrs import frozen

from domain.media import Media
from domain.presence.model import ObservedUser
from domain.queue.commands import ObservedItem

FORMAT = 1


@frozen
class SavedChannel:
    """Everything needed to resume: the playlist with its uids, playback, users, id counters."""

    channel: str
    items: tuple[ObservedItem, ...]
    next_uid: int
    current_uid: int | None
    elapsed_sec: float
    users: tuple[ObservedUser, ...]
    virtual_time: datetime
    observation_seq: int


def _item_to_json(item: ObservedItem) -> dict[str, Any]:
    m = item.media
    return {
        "uid": item.uid,
        "media": {"type": m.type, "id": m.id, "title": m.title, "duration_sec": m.duration_sec},
        "temp": item.temp,
        "queued_by": item.queued_by,
    }


def _item_from_json(raw: dict[str, Any]) -> ObservedItem:
    m = raw["media"]
    media = Media(str(m["type"]), str(m["id"]), str(m["title"]), int(m["duration_sec"]))
    return ObservedItem(int(raw["uid"]), media, bool(raw["temp"]), str(raw["queued_by"]))


def to_json(saved: SavedChannel) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "channel": saved.channel,
        "items": [_item_to_json(i) for i in saved.items],
        "next_uid": saved.next_uid,
        "current_uid": saved.current_uid,
        "elapsed_sec": saved.elapsed_sec,
        "users": [{"name": u.name, "rank": u.rank, "afk": u.afk} for u in saved.users],
        "virtual_time": saved.virtual_time.isoformat(),
        "observation_seq": saved.observation_seq,
    }


def from_json(raw: dict[str, Any]) -> SavedChannel:
    if raw.get("format") != FORMAT:
        raise ValueError(f"Unknown simulator state format {raw.get('format')!r}.")
    virtual_time = datetime.fromisoformat(raw["virtual_time"])
    if virtual_time.tzinfo is None:
        raise ValueError("Simulator state holds a naive virtual time.")
    current = raw["current_uid"]
    return SavedChannel(
        channel=str(raw["channel"]),
        items=tuple(_item_from_json(i) for i in raw["items"]),
        next_uid=int(raw["next_uid"]),
        current_uid=None if current is None else int(current),
        elapsed_sec=float(raw["elapsed_sec"]),
        users=tuple(
            ObservedUser(str(u["name"]), float(u["rank"]), bool(u["afk"])) for u in raw["users"]
        ),
        virtual_time=virtual_time,
        observation_seq=int(raw["observation_seq"]),
    )


def write_state(path: Path, saved: SavedChannel) -> None:
    """Replace the file atomically so a crash never leaves half a state behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    data = msgspec.json.format(msgspec.json.encode(to_json(saved)), indent=1)
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_state(path: Path) -> SavedChannel | None:
    """The saved state, or None when nothing was saved yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return from_json(json.loads(text))
