"""CyTube's playlist rules, synchronous and free of I/O, for the simulated channel.

Modelled on CyTube's `src/channel/playlist.js`: every broadcast CyTube would make is handed to
`emit` as the observation the Kryten adapter derives from it, in the order CyTube sends them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from attrs import evolve as replace

from application.cytube.observations import Observation
from domain.media import Media
from domain.queue.commands import (
    Append,
    ObservedItem,
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
    ObservePlaylist,
    ObservePlaylistCount,
    ObserveTempChanged,
    Prepend,
)

LEAD_IN_SEC = 3.0
"""CyTube starts an item at currentTime -3 so clients can buffer (live items start at 0)."""
TAIL_SEC = 2.0
"""CyTube moves on once currentTime reaches seconds + 2, letting late clients catch up."""

ALREADY_ON_PLAYLIST = "This item is already on the playlist"

Position = Literal["end", "next"]


class QueueFail(Exception):
    """CyTube's `queueFail {msg, link, id}`: sent to the requester only, so never observed."""

    def __init__(self, msg: str, media: Media, *, transient: bool = False) -> None:
        super().__init__(msg)
        self.msg = msg
        self.media = media
        self.transient = transient


def slot_sec(media: Media) -> float | None:
    """Seconds from setCurrent to the next item; None for live media, which plays until skipped."""
    if media.duration_sec <= 0:
        return None
    return LEAD_IN_SEC + media.duration_sec + TAIL_SEC


class SimPlaylist:
    """The items, the uid counter and what plays since when; `now` is the channel's clock."""

    def __init__(self, now: Callable[[], datetime], emit: Callable[[Observation], None]) -> None:
        self._now = now
        self._emit = emit
        self.items: list[ObservedItem] = []
        self.next_uid = 1
        self.current: int | None = None
        self.started_at: datetime | None = None

    def index(self, uid: int | str | None) -> int | None:
        for i, item in enumerate(self.items):
            if item.uid == uid:
                return i
        return None

    def item(self, uid: int | None) -> ObservedItem | None:
        index = self.index(uid)
        return None if index is None else self.items[index]

    def elapsed(self) -> float | None:
        """Seconds since the current item's setCurrent (so including the lead-in)."""
        if self.current is None or self.started_at is None:
            return None
        return max(0.0, (self._now() - self.started_at).total_seconds())

    def add(self, media: Media, pos: Position, temp: bool, queued_by: str) -> int:
        """CyTube's `_addItem`: a duplicate (by media id alone, as CyTube looks it up) fails at
        `end` or when it is playing; at `next` it is moved instead: the old one is deleted
        (broadcast first) and the new one inherits its temp flag."""
        if pos not in ("end", "next"):
            raise ValueError(f"pos must be 'end' or 'next', got {pos!r}.")
        existing = next((i for i in self.items if i.media.id == media.id), None)
        if existing is not None and (pos == "end" or existing.uid == self.current):
            raise QueueFail(ALREADY_ON_PLAYLIST, media)
        item = ObservedItem(self.next_uid, media, temp, queued_by)
        self.next_uid += 1
        current = self.index(self.current)
        if pos == "end" or current is None:
            self.items.append(item)
        else:
            if existing is not None:
                item = replace(item, temp=existing.temp)
            self.items.insert(current + 1, item)
            if existing is not None:
                self.delete(existing.uid, self._now())
        index = self.items.index(item)
        after: int | Prepend = self.items[index - 1].uid if index else "prepend"
        self._emit(ObserveItemQueued(item.uid, media, item.temp, queued_by, after))
        if len(self.items) == 1:
            self.start(item.uid, self._now())
        return item.uid

    def delete(self, uid: int, at: datetime) -> bool:
        """CyTube's `_delete`: broadcast `delete`, then start the next if it was current."""
        index = self.index(uid)
        if index is None:
            return False
        following = self.items[(index + 1) % len(self.items)]
        del self.items[index]
        self._emit(ObserveItemDeleted(uid))
        if self.current == uid:
            if following.uid == uid:
                self.current = None
                self.started_at = None
            else:
                self.start(following.uid, at)
        return True

    def move(self, uid: int, after: int | Prepend | Append) -> None:
        """CyTube's `moveMedia`; a move that cannot happen is silent."""
        index = self.index(uid)
        if index is None or after == uid:
            return
        if after == "prepend":
            target: int | None = 0
        elif after == "append":
            target = len(self.items) - 1
        else:
            # An unknown anchor makes CyTube drop the item without a word (it removes before
            # inserting); the simulator keeps it, so no test builds on that bug.
            anchor = self.index(after)
            target = None if anchor is None else anchor + (anchor < index)
        if target is not None:
            self.items.insert(target, self.items.pop(index))
            self._emit(ObserveItemMoved(uid, after))

    def set_temp(self, uid: int, temp: bool) -> None:
        """CyTube's `setTemp`: broadcast even when unchanged; an unknown uid is silent."""
        index = self.index(uid)
        if index is not None:
            self.items[index] = replace(self.items[index], temp=temp)
            self._emit(ObserveTempChanged(uid, temp))

    def jump(self, uid: int) -> None:
        """CyTube's `jumpTo`: setCurrent first (even to the item already playing: it restarts),
        then the delete of a temp item jumped away from."""
        if self.index(uid) is None:
            return
        old = self.item(self.current)
        self.start(uid, self._now())
        if old is not None and old.temp and old.uid != uid:
            self.delete(old.uid, self._now())

    def play_next(self, at: datetime) -> None:
        """CyTube's `_playNext`: a temp item is deleted (which starts the next), else wrap on;
        a lone non-temp item restarts itself."""
        index = self.index(self.current)
        if index is None:
            return
        item = self.items[index]
        if item.temp:
            self.delete(item.uid, at)
        else:
            self.start(self.items[(index + 1) % len(self.items)].uid, at)

    def clear(self) -> None:
        """CyTube's `clearPlaylist`, broadcast as `playlist []`; the uid counter runs on."""
        self.items.clear()
        self.current = None
        self.started_at = None
        self._emit(ObservePlaylist(items=(), source="cytube"))
        self._emit(ObservePlaylistCount(0))  # CyTube follows it with setPlaylistMeta

    def start(self, uid: int, at: datetime) -> None:
        """CyTube's startPlayback: `setCurrent(uid)` (then changeMedia, which names no uid)."""
        self.current = uid
        self.started_at = at
        self._emit(ObserveNowPlaying(uid, max(0.0, (self._now() - at).total_seconds())))

    def due(self) -> datetime | None:
        """When the current item gives way, or None (nothing playing, or live)."""
        item = self.item(self.current)
        if item is None or self.started_at is None:
            return None
        slot = slot_sec(item.media)
        return None if slot is None else self.started_at + timedelta(seconds=slot)

    def catch_up(self) -> None:
        """Play out every item that ended by now, each next one starting when its predecessor
        ended, so a clock jump plays through several items exactly."""
        now = self._now()
        while (due := self.due()) is not None and due <= now:
            self.play_next(due)
