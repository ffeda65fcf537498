"""Observation commands: what CyTube reported, phrased as requests to record it."""

from __future__ import annotations

from typing import Literal

from attrs import frozen

from domain.media import Media

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
    """CyTube's `setCurrent(uid)`; `elapsed_sec` is how far into the item playback already is."""

    uid: int | None
    elapsed_sec: float = 0.0


@frozen
class ObservedItem:
    uid: int
    media: Media
    temp: bool = False
    queued_by: str = ""


@frozen
class ObservePlaylist:
    """A full playlist snapshot, in CyTube order; the shadow reconciles against it."""

    items: tuple[ObservedItem, ...]
    current_uid: int | None = None


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
    | ExpectClear
)
