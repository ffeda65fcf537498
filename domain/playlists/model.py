"""Saved playlists: commands, events, state and decider in one place, one stream per playlist.

A playlist tagged with a `promo_type` is a promo pool; one marked `is_immutable` is curated.
Both are hidden from public listings and cannot be bought (the application reads that from the
projection). Items are whole `Media`, so a pool can be played without another lookup.
"""

from __future__ import annotations

from typing import ClassVar

from attrs import evolve as replace
from attrs import frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.media import Media, validate_media
from domain.promos.kinds import PROMO_TYPES, PromoType

MAX_NAME = 200
MAX_ITEMS = 2000


@frozen
class CreatePlaylist:
    name: str
    by: str
    is_immutable: bool = False
    promo_type: PromoType | None = None


@frozen
class RenamePlaylist:
    name: str
    by: str


@frozen
class SetPlaylistItems:
    items: tuple[Media, ...]
    by: str


@frozen
class SetPlaylistFlags:
    is_immutable: bool
    promo_type: PromoType | None
    by: str


@frozen
class DeletePlaylist:
    by: str


PlaylistCommand = (
    CreatePlaylist | RenamePlaylist | SetPlaylistItems | SetPlaylistFlags | DeletePlaylist
)


@frozen
class PlaylistCreated:
    VERSION: ClassVar[int] = 1
    name: str
    by: str
    is_immutable: bool
    promo_type: PromoType | None


@frozen
class PlaylistRenamed:
    VERSION: ClassVar[int] = 1
    name: str


@frozen
class PlaylistItemsSet:
    VERSION: ClassVar[int] = 1
    items: tuple[Media, ...]


@frozen
class PlaylistFlagsSet:
    VERSION: ClassVar[int] = 1
    is_immutable: bool
    promo_type: PromoType | None


@frozen
class PlaylistDeleted:
    VERSION: ClassVar[int] = 1
    by: str


PlaylistEvent = (
    PlaylistCreated | PlaylistRenamed | PlaylistItemsSet | PlaylistFlagsSet | PlaylistDeleted
)
PLAYLIST_EVENTS: tuple[type, ...] = (
    PlaylistCreated,
    PlaylistRenamed,
    PlaylistItemsSet,
    PlaylistFlagsSet,
    PlaylistDeleted,
)


@frozen
class PlaylistState:
    """`created` stays true after a delete, so an id is never reused."""

    playlist_id: str
    created: bool = False
    deleted: bool = False
    name: str = ""
    created_by: str = ""
    is_immutable: bool = False
    promo_type: PromoType | None = None
    items: tuple[Media, ...] = ()

    @property
    def live(self) -> bool:
        return self.created and not self.deleted

    @property
    def hidden(self) -> bool:
        """Promo pools and immutable playlists: not listed publicly, not payable."""
        return self.is_immutable or self.promo_type is not None


def initial(playlist_id: str) -> PlaylistState:
    return PlaylistState(playlist_id=playlist_id)


def _name(name: str) -> str:
    trimmed = name.strip()
    if not trimmed or len(trimmed) > MAX_NAME:
        raise Rejected("invalid_name", f"A playlist name must be 1 to {MAX_NAME} characters.")
    return trimmed


def _promo_type(value: str | None) -> None:
    if value is not None and value not in PROMO_TYPES:
        raise Rejected(
            "invalid_promo_type",
            f"{value!r} is not a promo type; use one of {', '.join(PROMO_TYPES)} or none.",
        )


def _items(items: tuple[Media, ...]) -> None:
    if len(items) > MAX_ITEMS:
        raise Rejected(
            "too_many_items", f"A playlist holds at most {MAX_ITEMS} items, not {len(items)}."
        )
    seen: set[tuple[str, str]] = set()
    for media in items:
        validate_media(media)
        if media.key in seen:
            raise Rejected(
                "duplicate_media",
                f"{media.type}:{media.id} is in the playlist more than once.",
            )
        seen.add(media.key)


def _live(state: PlaylistState) -> None:
    if not state.live:
        raise Rejected("unknown_playlist", f"There is no playlist {state.playlist_id!r}.")


def decide(
    state: PlaylistState, command: PlaylistCommand, ctx: Context
) -> tuple[PlaylistEvent, ...]:
    match command:
        case CreatePlaylist():
            if state.created:
                raise Rejected("playlist_exists", f"Playlist {state.playlist_id!r} exists already.")
            name = _name(command.name)
            _promo_type(command.promo_type)
            return (PlaylistCreated(name, command.by, command.is_immutable, command.promo_type),)
        case RenamePlaylist():
            _live(state)
            name = _name(command.name)
            return () if name == state.name else (PlaylistRenamed(name),)
        case SetPlaylistItems():
            _live(state)
            items = tuple(command.items)
            _items(items)
            return () if items == state.items else (PlaylistItemsSet(items),)
        case SetPlaylistFlags():
            _live(state)
            _promo_type(command.promo_type)
            if (command.is_immutable, command.promo_type) == (
                state.is_immutable,
                state.promo_type,
            ):
                return ()
            return (PlaylistFlagsSet(command.is_immutable, command.promo_type),)
        case DeletePlaylist():
            _live(state)
            return (PlaylistDeleted(command.by),)
    raise Rejected("unknown_command", f"Playlists do not handle {type(command).__name__}.")


def evolve(state: PlaylistState, event: PlaylistEvent) -> PlaylistState:
    match event:
        case PlaylistCreated():
            return replace(
                state,
                created=True,
                name=event.name,
                created_by=event.by,
                is_immutable=event.is_immutable,
                promo_type=event.promo_type,
            )
        case PlaylistRenamed():
            return replace(state, name=event.name)
        case PlaylistItemsSet():
            return replace(state, items=tuple(event.items))
        case PlaylistFlagsSet():
            return replace(state, is_immutable=event.is_immutable, promo_type=event.promo_type)
        case PlaylistDeleted():
            return replace(state, deleted=True, items=())
    return state


playlist_decider: Decider[PlaylistState, PlaylistCommand, PlaylistEvent] = Decider(
    aggregate="playlist", initial=initial, decide=decide, evolve=evolve
)
