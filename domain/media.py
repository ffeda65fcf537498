"""Media as CyTube names it: a provider type and an id, plus what we show."""

from __future__ import annotations

from attrs import frozen

from domain.errors import Rejected

MAX_TITLE = 500
MAX_ID = 300


@frozen
class Media:
    type: str
    id: str
    title: str = ""
    duration_sec: int = 0

    @property
    def key(self) -> tuple[str, str]:
        """Identity on the playlist (CyTube itself refuses a repeat of the id)."""
        return (self.type, self.id)


def validate_media(media: Media) -> None:
    if not media.type or not media.type.strip():
        raise Rejected("invalid_media", "Media type is empty.")
    if not media.id or not media.id.strip():
        raise Rejected("invalid_media", "Media id is empty.")
    if len(media.id) > MAX_ID:
        raise Rejected("invalid_media", f"Media id is longer than {MAX_ID} characters.")
    if len(media.title) > MAX_TITLE:
        raise Rejected("invalid_media", f"Title is longer than {MAX_TITLE} characters.")
    if media.duration_sec < 0:
        raise Rejected("invalid_media", "Duration cannot be negative.")


def validate_uid(uid: int) -> None:
    if uid < 0:
        raise Rejected("invalid_uid", f"Playlist uid must be zero or more, got {uid}.")
