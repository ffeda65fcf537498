"""The blessed list of a channel: who may build playlists and apply them, apart from CyTube's
own ranks. One aggregate per channel; who changed it and when is in each event."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import ClassVar

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.identity.names import check_name, name_key


@frozen
class Bless:
    user: str
    by: str


@frozen
class Unbless:
    user: str
    by: str


BlessedCommand = Bless | Unbless


@frozen
class UserBlessed:
    VERSION: ClassVar[int] = 1
    user: str
    by: str
    at: datetime


@frozen
class UserUnblessed:
    VERSION: ClassVar[int] = 1
    user: str
    by: str
    at: datetime


BlessedEvent = UserBlessed | UserUnblessed
BLESSED_EVENTS: tuple[type, ...] = (UserBlessed, UserUnblessed)


@frozen
class BlessedEntry:
    user: str
    by: str
    at: datetime


def _frozen(value: Mapping[str, BlessedEntry]) -> Mapping[str, BlessedEntry]:
    return MappingProxyType(dict(value))


@frozen
class BlessedState:
    channel: str
    users: Mapping[str, BlessedEntry] = field(factory=dict, converter=_frozen)

    def is_blessed(self, user: str) -> bool:
        return name_key(user) in self.users


def initial(channel: str) -> BlessedState:
    return BlessedState(channel=channel)


def decide(state: BlessedState, cmd: BlessedCommand, ctx: Context) -> tuple[BlessedEvent, ...]:
    check_name(cmd.user)
    match cmd:
        case Bless():
            if state.is_blessed(cmd.user):
                return ()
            return (UserBlessed(cmd.user, cmd.by, ctx.now),)
        case Unbless():
            if not state.is_blessed(cmd.user):
                raise Rejected("not_blessed", f"{cmd.user} is not on the blessed list.")
            return (UserUnblessed(state.users[name_key(cmd.user)].user, cmd.by, ctx.now),)
    raise Rejected("unknown_command", f"The blessed list does not handle {type(cmd).__name__}.")


def evolve(state: BlessedState, event: BlessedEvent) -> BlessedState:
    users = dict(state.users)
    match event:
        case UserBlessed():
            users[name_key(event.user)] = BlessedEntry(event.user, event.by, event.at)
        case UserUnblessed():
            users.pop(name_key(event.user), None)
    return replace(state, users=users)


blessed_decider: Decider[BlessedState, BlessedCommand, BlessedEvent] = Decider(
    aggregate="blessed", initial=initial, decide=decide, evolve=evolve
)
