"""Presence commands, events, state and decider in one place: the aggregate is small."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import ClassVar

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected

MAX_NAME = 100


@frozen
class ObservedUser:
    name: str
    rank: float = 0
    afk: bool = False


@frozen
class ObserveUserJoined:
    user: ObservedUser


@frozen
class ObserveUserLeft:
    name: str


@frozen
class ObserveAfkChanged:
    name: str
    afk: bool


@frozen
class ObserveRankChanged:
    """CyTube's `setUserRank {name, rank}`: on every registered login, rank change and leader
    change (a leader is rank 1.5 while it leads)."""

    name: str
    rank: float


@frozen
class ObserveUserList:
    """The full user list (CyTube's `userlist`): anyone we hold who is not in it has left."""

    users: tuple[ObservedUser, ...]


PresenceCommand = (
    ObserveUserJoined | ObserveUserLeft | ObserveAfkChanged | ObserveRankChanged | ObserveUserList
)


@frozen
class UserJoined:
    VERSION: ClassVar[int] = 1
    name: str
    rank: float
    afk: bool
    at: datetime


@frozen
class UserLeft:
    VERSION: ClassVar[int] = 1
    name: str
    at: datetime


@frozen
class UserAfkChanged:
    VERSION: ClassVar[int] = 1
    name: str
    afk: bool
    at: datetime


@frozen
class UserRankChanged:
    VERSION: ClassVar[int] = 1
    name: str
    rank: float
    at: datetime


PresenceEvent = UserJoined | UserLeft | UserAfkChanged | UserRankChanged
PRESENCE_EVENTS: tuple[type, ...] = (UserJoined, UserLeft, UserAfkChanged, UserRankChanged)


@frozen
class Presence:
    rank: float
    afk: bool
    since: datetime


def _frozen_map(value: Mapping[str, Presence]) -> Mapping[str, Presence]:
    return MappingProxyType(dict(value))


def _frozen_times(value: Mapping[str, datetime]) -> Mapping[str, datetime]:
    return MappingProxyType(dict(value))


@frozen
class PresenceState:
    """Who is here, and when those we saw go left (so a grace window starts at the leave)."""

    channel: str
    users: Mapping[str, Presence] = field(factory=dict, converter=_frozen_map)
    left: Mapping[str, datetime] = field(factory=dict, converter=_frozen_times)

    def status(self, name: str) -> Presence | datetime | None:
        """Presence if here, the time they left if gone, None if we never knew."""
        key = _key(name)
        return self.users.get(key) or self.left.get(key)


def initial(channel: str) -> PresenceState:
    return PresenceState(channel=channel)


def _key(name: str) -> str:
    """CyTube names are case-insensitive."""
    return name.lower()


def _check_name(name: str) -> None:
    if not name or not name.strip() or len(name) > MAX_NAME:
        raise Rejected("invalid_user", f"User name must be 1 to {MAX_NAME} characters.")


def _joined(state: PresenceState, user: ObservedUser, now: datetime) -> tuple[PresenceEvent, ...]:
    _check_name(user.name)
    held = state.users.get(_key(user.name))
    if held is None:
        return (UserJoined(user.name, user.rank, user.afk, now),)
    events: list[PresenceEvent] = []
    if held.rank != user.rank:
        events.append(UserRankChanged(user.name, user.rank, now))
    if held.afk != user.afk:
        events.append(UserAfkChanged(user.name, user.afk, now))
    return tuple(events)


def decide(
    state: PresenceState, command: PresenceCommand, ctx: Context
) -> tuple[PresenceEvent, ...]:
    match command:
        case ObserveUserJoined():
            return _joined(state, command.user, ctx.now)
        case ObserveUserLeft():
            # Also for someone we never saw: a lookup finding them absent is a fact too.
            _check_name(command.name)
            if _key(command.name) in state.left:
                return ()
            return (UserLeft(command.name, ctx.now),)
        case ObserveAfkChanged():
            _check_name(command.name)
            held = state.users.get(_key(command.name))
            if held is None:
                return (UserJoined(command.name, 0, command.afk, ctx.now),)
            if held.afk == command.afk:
                return ()
            return (UserAfkChanged(command.name, command.afk, ctx.now),)
        case ObserveRankChanged():
            _check_name(command.name)
            if command.rank != command.rank:
                raise Rejected("invalid_rank", "A rank must be a number.")
            held = state.users.get(_key(command.name))
            if held is None:  # CyTube sends it only for someone in the channel
                return (UserJoined(command.name, command.rank, False, ctx.now),)
            if held.rank == command.rank:
                return ()
            return (UserRankChanged(command.name, command.rank, ctx.now),)
        case ObserveUserList():
            present = {_key(u.name) for u in command.users}
            events: list[PresenceEvent] = [
                UserLeft(name, ctx.now) for name in state.users if name not in present
            ]
            for user in command.users:
                events.extend(_joined(state, user, ctx.now))
            return tuple(events)
    raise Rejected("unknown_command", f"Presence does not handle {type(command).__name__}.")


def evolve(state: PresenceState, event: PresenceEvent) -> PresenceState:
    users = dict(state.users)
    left = dict(state.left)
    key = _key(event.name)
    match event:
        case UserJoined():
            users[key] = Presence(event.rank, event.afk, event.at)
            left.pop(key, None)
        case UserLeft():
            users.pop(key, None)
            left[key] = event.at
        case UserAfkChanged():
            held = users.get(key)
            rank = held.rank if held else 0
            users[key] = Presence(rank, event.afk, event.at)
            left.pop(key, None)
        case UserRankChanged():
            held = users.get(key)
            if held is None:
                users[key] = Presence(event.rank, False, event.at)
            else:  # the AFK clock (`since`) is not reset by a rank change
                users[key] = Presence(event.rank, held.afk, held.since)
            left.pop(key, None)
    return replace(state, users=users, left=left)


presence_decider: Decider[PresenceState, PresenceCommand, PresenceEvent] = Decider(
    aggregate="presence", initial=initial, decide=decide, evolve=evolve
)
