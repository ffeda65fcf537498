"""Observation commands: what CyTube reported, phrased as requests to record it."""

from __future__ import annotations

from typing import Literal

from attrs import frozen

from domain.media import Media
from domain.queue.events import SnapshotSource

#: CyTube starts every new item at -3 s, paused (`startPlayback`), and moves to the next one at
#: `seconds + 2`: one item to the next takes `seconds + 5` (calzoneman/sync playlist.js).
CYTUBE_LEAD_IN_SEC = 3.0
CYTUBE_TAIL_SEC = 2.0

Prepend = Literal["prepend"]
Append = Literal["append"]


@frozen
class ObserveItemQueued:
    """CyTube's `queue {item, after}`; `after` None means the report named no place (append)."""

    uid: int
    media: Media
    temp: bool = False
    queued_by: str = ""
    after: int | Prepend | None = None


@frozen
class ObserveItemDeleted:
    uid: int


@frozen
class ObserveItemMoved:
    """CyTube's `moveVideo {from, after}`."""

    uid: int
    after: int | Prepend | Append


@frozen
class ObserveTempChanged:
    uid: int
    temp: bool


@frozen
class ObserveNowPlaying:
    """CyTube's `setCurrent(uid)`; `elapsed_sec` is how far into the item playback already is
    (negative during CyTube's lead-in: a new item starts at -3 s)."""

    uid: int | None
    elapsed_sec: float = 0.0


@frozen
class ObservePlaybackPosition:
    """CyTube's `changeMedia` (with the media it names) or `mediaUpdate` (media None: the
    current item): playback is at `current_time` seconds, paused or not."""

    current_time: float
    paused: bool = False
    media_type: str | None = None
    media_id: str | None = None


@frozen
class ObservePlaylistCount:
    """CyTube's `setPlaylistMeta {count, rawTime}`, sent after every add, delete and clear."""

    count: int


@frozen
class ObservedItem:
    uid: int
    media: Media
    temp: bool = False
    queued_by: str = ""


@frozen
class ObservePlaylist:
    """A full playlist snapshot, in CyTube order; the shadow reconciles against it.

    `source` says how far to trust it (see `SnapshotSource`); a read is the cautious default.
    `empty_confirmed`: an empty read that a second, independent record vouches for (the
    robot's KV bucket holding `[]`), so it is an empty channel, not a failed read."""

    items: tuple[ObservedItem, ...]
    current_uid: int | None = None
    source: SnapshotSource = "robot"
    empty_confirmed: bool = False


@frozen
class ExpectClear:
    """We (or an admin) asked CyTube to clear: the empty snapshot that follows is to be believed."""

    by: str = ""


QueueCommand = (
    ObserveItemQueued
    | ObserveItemDeleted
    | ObserveItemMoved
    | ObserveTempChanged
    | ObserveNowPlaying
    | ObservePlaylist
    | ObservePlaybackPosition
    | ObservePlaylistCount
    | ExpectClear
)
