"""Saved playlists: commands, events, state and decider in one place, one stream per playlist.

A playlist tagged with a `promo_type` is a promo pool; one marked `is_immutable` is curated.
Both are hidden from public listings and cannot be bought (the application reads that from the
projection). Items are whole `Media`, so a pool can be played without another lookup; an item
taken from the catalog also keeps its catalog id (`refs`, parallel to `items`, None for a plain
media link), so an apply can ask the catalog whether it is still available.

Every event counts as one version (`PlaylistState.version`); a command that names the version
it was made against (`expected_version`) is refused with `version_conflict` when the playlist
has moved on, so two editors never overwrite each other silently. Events carry the decision's
time (`at`, from the context) so the state knows when it was created and last changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.media import Media, validate_media
from domain.playlists.marathon import Recipe
from domain.promos.kinds import PROMO_TYPES, PromoType

MAX_NAME = 200
MAX_ITEMS = 2000
MAX_REF = 200

Ref = str | None
"""A catalog item's id, or None for a plain media link."""


@frozen
class CreatePlaylist:
    name: str
    by: str
    is_immutable: bool = False
    promo_type: PromoType | None = None
    copied_from: str | None = field(default=None, kw_only=True)
    recipe: Recipe | None = field(default=None, kw_only=True)
    expected_version: int | None = field(default=None, kw_only=True)


@frozen
class RenamePlaylist:
    name: str
    by: str
    expected_version: int | None = field(default=None, kw_only=True)


@frozen
class SetPlaylistItems:
    """Replace the items; `refs` parallel to `items` (empty: all plain media links)."""

    items: tuple[Media, ...]
    by: str
    refs: tuple[Ref, ...] = field(default=(), kw_only=True)
    expected_version: int | None = field(default=None, kw_only=True)


@frozen
class AddPlaylistItems:
    """Insert items before `at` (None: at the end)."""

    items: tuple[Media, ...]
    by: str
    refs: tuple[Ref, ...] = field(default=(), kw_only=True)
    at: int | None = field(default=None, kw_only=True)
    expected_version: int | None = field(default=None, kw_only=True)


@frozen
class RemovePlaylistItems:
    """Remove the items at these positions (0-based, as the playlist stands)."""

    positions: tuple[int, ...]
    by: str
    expected_version: int | None = field(default=None, kw_only=True)


@frozen
class MovePlaylistItem:
    """Take the item at `from_position` out and put it back at `to_position`."""

    from_position: int
    to_position: int
    by: str
    expected_version: int | None = field(default=None, kw_only=True)


@frozen
class SetPlaylistFlags:
    is_immutable: bool
    promo_type: PromoType | None
    by: str
    expected_version: int | None = field(default=None, kw_only=True)


@frozen
class DeletePlaylist:
    by: str
    expected_version: int | None = field(default=None, kw_only=True)


@frozen
class EditPlaylist:
    """Several changes decided as one: their events go in one commit, so nobody reading the
    playlist (a page, the promo director's pools) ever sees an edit half made (a new promo
    type with the old items). Each step is checked as if alone, on what the steps before it
    left."""

    steps: tuple[PlaylistCommand, ...]


PlaylistCommand = (
    CreatePlaylist
    | RenamePlaylist
    | SetPlaylistItems
    | AddPlaylistItems
    | RemovePlaylistItems
    | MovePlaylistItem
    | SetPlaylistFlags
    | DeletePlaylist
)
#: What the decider takes: one change, or several as one commit.
PlaylistChange = PlaylistCommand | EditPlaylist


@frozen
class PlaylistCreated:
    VERSION: ClassVar[int] = 1
    name: str
    by: str
    is_immutable: bool
    promo_type: PromoType | None
    at: datetime | None = None
    copied_from: str | None = None
    recipe: Recipe | None = None


@frozen
class PlaylistRenamed:
    VERSION: ClassVar[int] = 1
    name: str
    by: str = ""
    at: datetime | None = None


@frozen
class PlaylistItemsSet:
    VERSION: ClassVar[int] = 1
    items: tuple[Media, ...]
    refs: tuple[Ref, ...] = ()
    by: str = ""
    at: datetime | None = None


@frozen
class PlaylistFlagsSet:
    VERSION: ClassVar[int] = 1
    is_immutable: bool
    promo_type: PromoType | None
    by: str = ""
    at: datetime | None = None


@frozen
class PlaylistDeleted:
    VERSION: ClassVar[int] = 1
    by: str
    at: datetime | None = None


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
    """`created` stays true after a delete, so an id is never reused. `version` counts the
    events folded in (0: never created)."""

    playlist_id: str
    created: bool = False
    deleted: bool = False
    name: str = ""
    created_by: str = ""
    is_immutable: bool = False
    promo_type: PromoType | None = None
    items: tuple[Media, ...] = ()
    refs: tuple[Ref, ...] = ()
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    copied_from: str | None = None
    recipe: Recipe | None = None

    @property
    def live(self) -> bool:
        return self.created and not self.deleted

    @property
    def hidden(self) -> bool:
        """Promo pools and immutable playlists: not listed publicly, not payable."""
        return self.is_immutable or self.promo_type is not None

    def ref(self, position: int) -> Ref:
        return self.refs[position] if position < len(self.refs) else None

    def all_refs(self) -> tuple[Ref, ...]:
        """`refs` as long as `items` (a plain media link is None)."""
        return tuple(self.ref(i) for i in range(len(self.items)))


def initial(playlist_id: str) -> PlaylistState:
    return PlaylistState(playlist_id=playlist_id)


def name_key(name: str) -> str:
    """What makes two names the same on a channel: case and spaces do not count, so
    "Friday Night", "friday night" and "FridayNight " are one name."""
    return "".join(name.split()).casefold()


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


def _refs(items: tuple[Media, ...], refs: tuple[Ref, ...]) -> tuple[Ref, ...]:
    """`refs` checked and made as long as `items`; trailing plain links are dropped again by
    `_trim` so a playlist without catalog items keeps `refs` empty."""
    if len(refs) > len(items):
        raise Rejected("invalid_items", f"{len(refs)} catalog ids for {len(items)} items.")
    for ref in refs:
        if ref is not None and (not ref.strip() or len(ref) > MAX_REF):
            raise Rejected("invalid_items", f"A catalog id must be 1 to {MAX_REF} characters.")
    return (*refs, *(None,) * (len(items) - len(refs)))


def _trim(refs: tuple[Ref, ...]) -> tuple[Ref, ...]:
    end = len(refs)
    while end and refs[end - 1] is None:
        end -= 1
    return refs[:end]


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


def check_version(state: PlaylistState, expected: int | None) -> None:
    if expected is not None and expected != state.version:
        raise Rejected(
            "version_conflict",
            f"Playlist {state.name or state.playlist_id!r} changed since version {expected} "
            f"(it is at version {state.version} now): reload it and make the change again.",
            {"current_version": state.version, "playlist_id": state.playlist_id},
        )


def _position(value: int, size: int, what: str) -> int:
    if not 0 <= value < size:
        raise Rejected(
            "invalid_position",
            f"{what} {value} is not in the playlist (positions 0 to {size - 1}).",
        )
    return value


def _set(
    state: PlaylistState, items: tuple[Media, ...], refs: tuple[Ref, ...], by: str, ctx: Context
) -> tuple[PlaylistEvent, ...]:
    refs = _refs(items, refs)
    _items(items)
    if items == state.items and refs == state.all_refs():
        return ()
    return (PlaylistItemsSet(items, _trim(refs), by, ctx.now),)


def decide(
    state: PlaylistState, command: PlaylistChange, ctx: Context
) -> tuple[PlaylistEvent, ...]:
    match command:
        case EditPlaylist():
            events: list[PlaylistEvent] = []
            for step in command.steps:
                made = decide(state, step, ctx)
                for event in made:
                    state = evolve(state, event)
                events.extend(made)
            return tuple(events)
        case CreatePlaylist():
            if state.created:
                raise Rejected("playlist_exists", f"Playlist {state.playlist_id!r} exists already.")
            name = _name(command.name)
            _promo_type(command.promo_type)
            return (
                PlaylistCreated(
                    name,
                    command.by,
                    command.is_immutable,
                    command.promo_type,
                    ctx.now,
                    command.copied_from,
                    command.recipe,
                ),
            )
        case DeletePlaylist():
            _live(state)
            check_version(state, command.expected_version)
            return (PlaylistDeleted(command.by, ctx.now),)
    _live(state)
    check_version(state, command.expected_version)
    match command:
        case RenamePlaylist():
            name = _name(command.name)
            return () if name == state.name else (PlaylistRenamed(name, command.by, ctx.now),)
        case SetPlaylistItems():
            return _set(state, tuple(command.items), tuple(command.refs), command.by, ctx)
        case AddPlaylistItems():
            new = tuple(command.items)
            new_refs = _refs(new, tuple(command.refs))
            at = len(state.items) if command.at is None else command.at
            if not 0 <= at <= len(state.items):
                raise Rejected(
                    "invalid_position",
                    f"Position {at} is not in the playlist (0 to {len(state.items)}).",
                )
            refs = state.all_refs()
            items = (*state.items[:at], *new, *state.items[at:])
            return _set(state, items, (*refs[:at], *new_refs, *refs[at:]), command.by, ctx)
        case RemovePlaylistItems():
            gone = {_position(p, len(state.items), "Position") for p in command.positions}
            keep = [i for i in range(len(state.items)) if i not in gone]
            refs = state.all_refs()
            items = tuple(state.items[i] for i in keep)
            return _set(state, items, tuple(refs[i] for i in keep), command.by, ctx)
        case MovePlaylistItem():
            size = len(state.items)
            src = _position(command.from_position, size, "Position")
            dst = _position(command.to_position, size, "Position")
            moved, moved_refs = list(state.items), list(state.all_refs())
            moved.insert(dst, moved.pop(src))
            moved_refs.insert(dst, moved_refs.pop(src))
            return _set(state, tuple(moved), tuple(moved_refs), command.by, ctx)
        case SetPlaylistFlags():
            _promo_type(command.promo_type)
            if (command.is_immutable, command.promo_type) == (
                state.is_immutable,
                state.promo_type,
            ):
                return ()
            return (
                PlaylistFlagsSet(command.is_immutable, command.promo_type, command.by, ctx.now),
            )
    raise Rejected("unknown_command", f"Playlists do not handle {type(command).__name__}.")


def _evolve(state: PlaylistState, event: PlaylistEvent) -> PlaylistState:
    match event:
        case PlaylistCreated():
            return replace(
                state,
                created=True,
                name=event.name,
                created_by=event.by,
                is_immutable=event.is_immutable,
                promo_type=event.promo_type,
                created_at=event.at,
                copied_from=event.copied_from,
                recipe=event.recipe,
            )
        case PlaylistRenamed():
            return replace(state, name=event.name)
        case PlaylistItemsSet():
            return replace(state, items=tuple(event.items), refs=tuple(event.refs))
        case PlaylistFlagsSet():
            return replace(state, is_immutable=event.is_immutable, promo_type=event.promo_type)
        case PlaylistDeleted():
            return replace(state, deleted=True, items=(), refs=())
    return state


def evolve(state: PlaylistState, event: PlaylistEvent) -> PlaylistState:
    changed = _evolve(state, event)
    if changed is state:
        return state
    at = getattr(event, "at", None)
    return replace(changed, version=state.version + 1, updated_at=at or state.updated_at)


playlist_decider: Decider[PlaylistState, PlaylistChange, PlaylistEvent] = Decider(
    aggregate="playlist", initial=initial, decide=decide, evolve=evolve
)
