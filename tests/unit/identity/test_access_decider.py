"""Sessions and token revocation, with a driven clock: idle and absolute lifetimes, signing
out, signing out everywhere, an admin's revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.decider import Context
from domain.identity.access import (
    AccessState,
    EndAllSessions,
    EndSession,
    RevokeToken,
    SessionEnded,
    StartSession,
    TokenRevoked,
    TokensRevoked,
    TouchSession,
    access_decider,
)

T0 = datetime(2025, 3, 1, 20, 0, tzinfo=UTC)
IDLE, ABSOLUTE = 3600, 4 * 3600


def at(seconds: float) -> Context:
    return Context(now=T0 + timedelta(seconds=seconds))


def run(
    state: AccessState, command: object, seconds: float
) -> tuple[AccessState, tuple[object, ...]]:
    events = access_decider.decide(state, command, at(seconds))  # type: ignore[arg-type]
    for e in events:
        state = access_decider.evolve(state, e)  # type: ignore[arg-type]
    return state, events


def started(*hashes: str) -> AccessState:
    state = access_decider.initial("alice")
    for h in hashes:
        state, _ = run(state, StartSession(h, "alice", "1.2.3.4", "Firefox", IDLE, ABSOLUTE), 0)
    return state


def alive(state: AccessState, h: str, seconds: float) -> bool:
    return state.session(h, T0 + timedelta(seconds=seconds)) is not None


def test_a_session_ends_when_idle_unless_used() -> None:
    state = started("s1")
    assert alive(state, "s1", IDLE - 1) and not alive(state, "s1", IDLE)
    state, _ = run(state, TouchSession("s1"), IDLE - 10)
    assert alive(state, "s1", 2 * IDLE - 11)


def test_a_session_ends_at_its_absolute_lifetime_however_used() -> None:
    state = started("s1")
    for t in range(0, ABSOLUTE, IDLE // 2):
        state, _ = run(state, TouchSession("s1"), t)
    assert not alive(state, "s1", ABSOLUTE)
    assert run(state, TouchSession("s1"), ABSOLUTE)[1] == ()


def test_signing_out_ends_that_session_only() -> None:
    state = started("s1", "s2")
    state, events = run(state, EndSession("s1", "signed_out", "alice"), 10)
    assert [type(e) for e in events] == [SessionEnded]
    assert not alive(state, "s1", 11) and alive(state, "s2", 11)
    assert run(state, EndSession("s1", "signed_out", "alice"), 12)[1] == ()


def test_signing_out_everywhere_ends_every_session_but_keeps_tokens() -> None:
    state = started("s1", "s2")
    state, events = run(state, EndAllSessions("signed_out_everywhere", "alice"), 10)
    assert sorted(e.session_hash for e in events) == ["s1", "s2"]  # type: ignore[attr-defined]
    assert not state.sessions
    assert not state.token_revoked("t1", T0)


def test_an_admins_revoke_ends_sessions_and_voids_tokens_issued_so_far() -> None:
    state = started("s1")
    state, events = run(state, EndAllSessions("revoked", "boss", tokens=True), 100)
    assert isinstance(events[-1], TokensRevoked)
    assert not state.sessions
    assert state.token_revoked(None, T0 + timedelta(seconds=99))  # even an old token with no id
    assert not state.token_revoked("t2", T0 + timedelta(seconds=101))  # issued after


def test_one_token_is_revoked_by_its_id_and_forgotten_once_expired() -> None:
    state = started()
    state, (event,) = run(state, RevokeToken("t1", T0 + timedelta(hours=1), "alice"), 0)
    assert isinstance(event, TokenRevoked)
    assert state.token_revoked("t1", T0) and not state.token_revoked("t2", T0)
    state, _ = run(state, RevokeToken("t2", T0 + timedelta(days=1), "alice"), 2 * 3600)
    assert "t1" not in state.revoked_tokens  # past its expiry it cannot be used anyway
