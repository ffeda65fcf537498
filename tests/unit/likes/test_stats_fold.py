"""The stats bucket's fold, without NATS: what a play and a like write, keys for media ids a KV
key cannot hold, other channels left out, and a full comparison that deletes strays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from application.log.ports import Commit, StoredCommit, StreamId
from application.stats.mirror import StatsFold, StatsMirrorRunner, key_token, media_key
from domain.likes.model import Liked
from domain.media import Media
from domain.queue.events import ItemAdded, NowPlayingChanged

T0 = datetime(2026, 11, 20, 23, 57, tzinfo=UTC)
SONG = Media("yt", "abc", "A song", 240)
FILE = Media("cu", "https://example.com/a.mp4", "A file", 60)


def commit(position: int, aggregate: str, *events: object, channel: str = "lobby") -> StoredCommit:
    at = T0 + timedelta(minutes=position)
    stream = StreamId(channel, aggregate, "alice" if aggregate == "likes" else channel)
    return StoredCommit(position, Commit(f"c{position}", stream, position, at, "x", events))


def added(item_id: str, media: Media) -> ItemAdded:
    return ItemAdded(item_id, int(item_id[1:]), media, False, "dj", None)


def liked(item_id: str, media: Media, minute: int) -> Liked:
    at = T0 + timedelta(minutes=minute)
    return Liked("alice", item_id, media, at, at - timedelta(days=1))


def history() -> list[StoredCommit]:
    return [
        commit(1, "queue", added("q1", SONG), added("q2", FILE)),
        commit(2, "queue", NowPlayingChanged("q1", 1, T0)),
        commit(3, "likes", liked("q1", SONG, 3)),
        commit(4, "queue", NowPlayingChanged("q2", 2, T0)),  # the next day (UTC)
        commit(5, "likes", liked("q2", FILE, 5)),
        commit(6, "queue", added("q1", SONG), channel="other"),
    ]


def test_plays_and_likes_per_medium_day_and_now() -> None:
    fold = StatsFold("lobby")
    for stored in history():
        fold.apply(stored)
    values = {k: json.loads(v) for k, v in fold.values().items()}
    assert values["totals"] == {
        "channel": "lobby",
        "items_queued": 2,
        "queued_duration_sec": 300,
        "items_played": 2,
        "played_duration_sec": 300,
        "likes": 2,
    }
    assert values["media.yt.abc"]["plays"] == 1 and values["media.yt.abc"]["likes"] == 1
    file_key = media_key("cu", FILE.id)
    assert file_key == f"media.cu.{key_token(FILE.id)}" and key_token(FILE.id).startswith("=")
    assert values[file_key]["media_id"] == FILE.id
    assert (values["day.2026-11-20"]["plays"], values["day.2026-11-20"]["likes"]) == (1, 0)
    assert (values["day.2026-11-21"]["plays"], values["day.2026-11-21"]["likes"]) == (1, 2)
    assert values["now"]["item_id"] == "q2" and values["now"]["likes"] == 1
    assert [t["media_id"] for t in values["top.liked"]] == [FILE.id, "abc"]  # newest first on ties
    assert fold.position == 6


def test_a_like_marks_only_what_it_changes() -> None:
    fold = StatsFold("lobby")
    for stored in history()[:2]:
        fold.apply(stored)
    fold.take_dirty()
    fold.apply(commit(3, "likes", liked("q1", SONG, 3)))
    changed = fold.take_dirty()
    assert set(changed) == {"totals", "top.liked", "day.2026-11-21", "media.yt.abc", "now"}
    assert json.loads(changed["now"] or b"")["likes"] == 1


class Bucket:
    def __init__(self) -> None:
        self.held: dict[str, bytes] = {"stray": b"{}", "totals": b"old"}

    async def put(self, key: str, value: bytes) -> None:
        self.held[key] = value

    async def delete(self, key: str) -> None:
        self.held.pop(key, None)

    async def keys(self) -> set[str]:
        return set(self.held)


async def test_a_full_comparison_leaves_the_bucket_as_the_fold() -> None:
    bucket = Bucket()
    runner = StatsMirrorRunner(None, bucket, "lobby")  # type: ignore[arg-type]
    for stored in history():
        runner.fold.apply(stored)
    await runner.sync()
    assert bucket.held == dict(runner.fold.values())
    assert "stray" not in bucket.held
