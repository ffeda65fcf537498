"""What the channel knows about a piece of media before CyTube plays it: the seam for the catalog.

A buyer names the media only (type and id). Its title and length come from CyTube once the item
lands on the playlist (the pay flow prices that length again, and takes the difference or undoes
the purchase); before that, a `MediaInfo` may know them (the catalog, once it exists), and the
buyer's `duration_sec` is only a hint for the first price. The default knows nothing.
"""

from __future__ import annotations

from typing import Protocol

from attrs import frozen


@frozen
class KnownMedia:
    """`available` False (with `reason`): known, and not to be bought (the catalog says why)."""

    title: str
    duration_sec: int
    available: bool = True
    reason: str | None = None


class MediaInfo(Protocol):
    async def lookup(self, channel: str, media: tuple[str, str]) -> KnownMedia | None:
        """What is known of `media` (`(type, id)`) on `channel`, or None."""
        ...


class NoMediaInfo:
    """Knows nothing: every first price comes from the buyer's hint."""

    async def lookup(self, channel: str, media: tuple[str, str]) -> KnownMedia | None:
        return None
