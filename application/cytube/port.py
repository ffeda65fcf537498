"""The CyTube port: the commands webqueue sends to the channel (through the robot, or to the
simulator). What actually happened is learnt from observations, never from these replies alone:
the robot confirms an add by the first `queue` it sees and never confirms a move or a delete.
"""

from __future__ import annotations

from typing import Literal, Protocol

from attrs import frozen

from domain.media import Media
from domain.presence.model import ObservedUser
from domain.queue.commands import ObservedItem

AddPosition = Literal["end", "next"]
After = int | Literal["prepend", "append"]


@frozen
class AddOutcome:
    """`uid` None with ok True: CyTube took it but did not say which uid (in time)."""

    ok: bool
    uid: int | None = None
    error: str | None = None
    transient: bool = False


@frozen
class PlaylistRead:
    """A snapshot asked for: the items in order, the current uid if the source knows it, and
    whether an empty list is vouched for by a second record (so it is not a failed read)."""

    items: tuple[ObservedItem, ...]
    current_uid: int | None = None
    empty_confirmed: bool = False


class CytubeUnavailable(Exception):
    """The robot (or the channel) did not answer; nothing is known about the outcome."""


class Cytube(Protocol):
    async def add(self, channel: str, media: Media, pos: AddPosition, temp: bool) -> AddOutcome: ...

    async def delete(self, channel: str, uid: int) -> None: ...

    async def move(self, channel: str, uid: int, after: After) -> None: ...

    async def playlist(self, channel: str) -> tuple[ObservedItem, ...] | None:
        """The full playlist, or None when it could not be told from a failed read (an empty
        answer nothing vouches for)."""
        ...

    async def read(self, channel: str) -> PlaylistRead:
        """A snapshot with what the source knows of now playing; raises CytubeUnavailable."""
        ...

    async def user(self, channel: str, name: str) -> ObservedUser | None:
        """The user if present; raises CytubeUnavailable when the lookup is inconclusive."""
        ...

    async def pm(self, channel: str, to: str, message: str) -> None: ...
