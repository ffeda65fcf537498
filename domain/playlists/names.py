"""Which playlist holds which name on a channel: one aggregate per channel, so two editors
saving the same name at the same moment cannot both win (optimistic concurrency on this one
stream decides).

A claim is only as good as its holder: a playlist that was deleted, or renamed without its
claim following (a crash between the two writes), no longer holds the name. The application
checks that and names such holders in `ClaimPlaylistName.free`; the decider then lets the
claim through.
"""

from __future__ import annotations

from typing import ClassVar

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.playlists.model import name_key


@frozen
class NameClaim:
    key: str
    name: str
    playlist_id: str


@frozen
class ClaimPlaylistName:
    name: str
    playlist_id: str
    free: tuple[str, ...] = field(default=(), kw_only=True)


@frozen
class ReleasePlaylistName:
    playlist_id: str


NamesCommand = ClaimPlaylistName | ReleasePlaylistName


@frozen
class PlaylistNameClaimed:
    VERSION: ClassVar[int] = 1
    key: str
    name: str
    playlist_id: str


@frozen
class PlaylistNameReleased:
    VERSION: ClassVar[int] = 1
    playlist_id: str


NamesEvent = PlaylistNameClaimed | PlaylistNameReleased
NAMES_EVENTS: tuple[type, ...] = (PlaylistNameClaimed, PlaylistNameReleased)


@frozen
class NamesState:
    channel: str
    claims: tuple[NameClaim, ...] = ()

    def holder(self, name: str) -> NameClaim | None:
        key = name_key(name)
        return next((c for c in self.claims if c.key == key), None)


def name_taken(name: str, playlist_id: str) -> Rejected:
    return Rejected(
        "name_taken",
        f"There is a playlist named {name!r} already (id {playlist_id}); names are compared "
        "without case or spaces. Choose another name, or open that playlist and change it.",
        {"existing": {"playlist_id": playlist_id, "name": name}},
    )


def decide(state: NamesState, command: NamesCommand, ctx: Context) -> tuple[NamesEvent, ...]:
    match command:
        case ClaimPlaylistName():
            key = name_key(command.name)
            holder = state.holder(command.name)
            if holder is not None and holder.playlist_id not in (
                command.playlist_id,
                *command.free,
            ):
                raise name_taken(holder.name, holder.playlist_id)
            mine = next((c for c in state.claims if c.playlist_id == command.playlist_id), None)
            if mine is not None and (mine.key, mine.name) == (key, command.name):
                return ()
            return (PlaylistNameClaimed(key, command.name, command.playlist_id),)
        case ReleasePlaylistName():
            if not any(c.playlist_id == command.playlist_id for c in state.claims):
                return ()
            return (PlaylistNameReleased(command.playlist_id),)
    raise Rejected("unknown_command", f"Playlist names do not handle {type(command).__name__}.")


def evolve(state: NamesState, event: NamesEvent) -> NamesState:
    match event:
        case PlaylistNameClaimed():
            kept = tuple(
                c for c in state.claims if c.key != event.key and c.playlist_id != event.playlist_id
            )
            return replace(
                state, claims=(*kept, NameClaim(event.key, event.name, event.playlist_id))
            )
        case PlaylistNameReleased():
            return replace(
                state, claims=tuple(c for c in state.claims if c.playlist_id != event.playlist_id)
            )
    return state


def initial(channel: str) -> NamesState:
    return NamesState(channel=channel)


names_decider: Decider[NamesState, NamesCommand, NamesEvent] = Decider(
    aggregate="playlist_names", initial=initial, decide=decide, evolve=evolve
)
