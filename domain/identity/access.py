"""A user's access: their browser sessions and the revocation of their bearer tokens. One
aggregate per (channel, user name), so "sign out everywhere" and "an admin revokes a user" are
one decision each.

A session is named by the SHA-256 of its cookie's random id: the log never holds a cookie. It
ends when signed out, revoked, idle for `idle_sec` or past `expires_at`; the last two are read
from the times, so they need no event. Old entries are dropped as later events arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected


@frozen
class StartSession:
    session_hash: str
    user: str
    ip: str
    user_agent: str
    idle_sec: int
    absolute_sec: int


@frozen
class TouchSession:
    session_hash: str


@frozen
class EndSession:
    session_hash: str
    reason: str
    by: str


@frozen
class EndAllSessions:
    """Sign out everywhere (`reason` signed_out_everywhere) or an admin's revoke (`revoked`);
    `tokens` also revokes every bearer token of the user issued until now."""

    reason: str
    by: str
    tokens: bool = False


@frozen
class RevokeToken:
    token_id: str
    expires_at: datetime
    by: str


AccessCommand = StartSession | TouchSession | EndSession | EndAllSessions | RevokeToken


@frozen
class SessionStarted:
    VERSION: ClassVar[int] = 1
    session_hash: str
    user: str
    ip: str
    user_agent: str
    at: datetime
    idle_sec: int
    expires_at: datetime


@frozen
class SessionSeen:
    VERSION: ClassVar[int] = 1
    session_hash: str
    at: datetime


@frozen
class SessionEnded:
    VERSION: ClassVar[int] = 1
    session_hash: str
    reason: str
    by: str
    at: datetime


@frozen
class TokensRevoked:
    """Every bearer token of the user issued before `issued_before` stops working."""

    VERSION: ClassVar[int] = 1
    user: str
    issued_before: datetime
    by: str
    at: datetime


@frozen
class TokenRevoked:
    VERSION: ClassVar[int] = 1
    token_id: str
    expires_at: datetime
    by: str
    at: datetime


AccessEvent = SessionStarted | SessionSeen | SessionEnded | TokensRevoked | TokenRevoked
ACCESS_EVENTS: tuple[type, ...] = (
    SessionStarted,
    SessionSeen,
    SessionEnded,
    TokensRevoked,
    TokenRevoked,
)


@frozen
class Session:
    user: str
    ip: str
    user_agent: str
    started_at: datetime
    last_seen: datetime
    idle_sec: int
    expires_at: datetime

    def alive(self, now: datetime) -> bool:
        return now < self.expires_at and now < self.last_seen + timedelta(seconds=self.idle_sec)


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@frozen
class AccessState:
    user: str
    sessions: Mapping[str, Session] = field(factory=dict, converter=_frozen)
    tokens_revoked_before: datetime | None = None
    revoked_tokens: Mapping[str, datetime] = field(factory=dict, converter=_frozen)

    def session(self, session_hash: str, now: datetime) -> Session | None:
        held = self.sessions.get(session_hash)
        return held if held is not None and held.alive(now) else None

    def token_revoked(self, token_id: str | None, issued_at: datetime) -> bool:
        if self.tokens_revoked_before is not None and issued_at < self.tokens_revoked_before:
            return True
        return token_id is not None and token_id in self.revoked_tokens


def initial(user: str) -> AccessState:
    return AccessState(user=user)


def decide(state: AccessState, cmd: AccessCommand, ctx: Context) -> tuple[AccessEvent, ...]:
    now = ctx.now
    match cmd:
        case StartSession():
            if not 60 <= cmd.idle_sec <= cmd.absolute_sec:
                raise Rejected(
                    "invalid_lifetime", "A session's idle lifetime is 60 s up to its absolute one."
                )
            expires = now + timedelta(seconds=cmd.absolute_sec)
            return (
                SessionStarted(
                    cmd.session_hash,
                    cmd.user,
                    cmd.ip,
                    cmd.user_agent[:300],
                    now,
                    cmd.idle_sec,
                    expires,
                ),
            )
        case TouchSession():
            if state.session(cmd.session_hash, now) is None:
                return ()
            return (SessionSeen(cmd.session_hash, now),)
        case EndSession():
            if state.session(cmd.session_hash, now) is None:
                return ()
            return (SessionEnded(cmd.session_hash, cmd.reason, cmd.by, now),)
        case EndAllSessions():
            events: list[AccessEvent] = [
                SessionEnded(h, cmd.reason, cmd.by, now)
                for h, s in state.sessions.items()
                if s.alive(now)
            ]
            if cmd.tokens:
                events.append(TokensRevoked(state.user, now, cmd.by, now))
            return tuple(events)
        case RevokeToken():
            if cmd.token_id in state.revoked_tokens:
                return ()
            return (TokenRevoked(cmd.token_id, cmd.expires_at, cmd.by, now),)
    raise Rejected("unknown_command", f"Access does not handle {type(cmd).__name__}.")


def evolve(state: AccessState, event: AccessEvent) -> AccessState:
    sessions = {h: s for h, s in state.sessions.items() if s.alive(event.at)}
    match event:
        case SessionStarted():
            sessions[event.session_hash] = Session(
                event.user,
                event.ip,
                event.user_agent,
                event.at,
                event.at,
                event.idle_sec,
                event.expires_at,
            )
        case SessionSeen():
            held = state.sessions.get(event.session_hash)
            if held is not None and event.session_hash in sessions:
                sessions[event.session_hash] = replace(held, last_seen=event.at)
        case SessionEnded():
            sessions.pop(event.session_hash, None)
        case TokensRevoked():
            return replace(state, sessions=sessions, tokens_revoked_before=event.issued_before)
        case TokenRevoked():
            kept = {t: e for t, e in state.revoked_tokens.items() if e > event.at}
            kept[event.token_id] = event.expires_at
            return replace(state, sessions=sessions, revoked_tokens=kept)
    return replace(state, sessions=sessions)


access_decider: Decider[AccessState, AccessCommand, AccessEvent] = Decider(
    aggregate="access", initial=initial, decide=decide, evolve=evolve
)
