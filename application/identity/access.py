"""Ending sessions and revoking tokens: a person's own, or anyone's for an admin; and the
admin's lists of sessions and blocked addresses."""

from __future__ import annotations

from datetime import datetime

import msgspec

from application.clock import Clock
from application.errors import NotFoundError
from application.identity.facts import IdentityFacts
from application.identity.roles import Identity, require, require_self_or_admin
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import access_stream, ip_blocks_stream
from domain.identity.access import EndAllSessions, EndSession, RevokeToken, access_decider
from domain.identity.ip_blocks import BlockIp, UnblockIp, ip_blocks_decider
from domain.identity.names import check_name, name_key


class SessionView(msgspec.Struct):
    session: str
    user: str
    ip: str
    user_agent: str
    started_at: datetime
    last_seen: datetime
    expires_at: datetime
    current: bool = False


class IpBlockView(msgspec.Struct):
    ip: str
    until: datetime
    reason: str
    by: str
    at: datetime


SESSION_REF = 16
"""A session is shown by the first 16 hex digits of its hash: enough to name it, no cookie."""


class AccessService:
    def __init__(
        self, handler: CommandHandler, facts: IdentityFacts, clock: Clock, channel: str
    ) -> None:
        self._handler = handler
        self._facts = facts
        self._clock = clock
        self._channel = channel

    async def _run(self, user: str, command: object, who: Identity) -> None:
        outcome = await self._handler.handle(
            access_decider,
            access_stream(self._channel, name_key(user)),
            command,
            CommandMeta.new(who.user),
        )
        await self._facts.caught_up(outcome.position)

    async def sign_out(self, who: Identity, session_hash: str) -> None:
        await self._run(who.user, EndSession(session_hash, "signed_out", who.user), who)

    async def sign_out_everywhere(self, who: Identity) -> None:
        await self._run(who.user, EndAllSessions("signed_out_everywhere", who.user), who)

    async def revoke_user(self, who: Identity, user: str) -> None:
        """End every session of `user` and void every token issued to them so far (admin)."""
        require(who, "admin")
        check_name(user)
        await self._run(user, EndAllSessions("revoked", who.user, tokens=True), who)

    async def end_session(self, who: Identity, ref: str) -> None:
        """End one session by its reference: your own, or anyone's for an admin."""
        now = self._clock.now()
        for h, s in self._facts.sessions(self._channel, now):
            if h.startswith(ref) and len(ref) >= 8:
                require_self_or_admin(who, s.user)
                reason = "signed_out" if s.user == who.user else "revoked"
                await self._run(s.user, EndSession(h, reason, who.user), who)
                return
        raise NotFoundError("unknown_session", "No live session has that reference.")

    async def revoke_token(
        self, who: Identity, user: str, token_id: str | None, expires_at: datetime
    ) -> None:
        require_self_or_admin(who, user)
        if token_id is None:  # an old token without an id: only revoking them all can stop it
            await self._run(user, EndAllSessions("token_revoked", who.user, tokens=True), who)
            return
        await self._run(user, RevokeToken(token_id, expires_at, who.user), who)

    def sessions(self, who: Identity, current: str | None = None) -> list[SessionView]:
        """Your live sessions; an admin's list holds everyone's."""
        now = self._clock.now()
        admin = who.at_least("admin")
        views = [
            SessionView(
                h[:SESSION_REF],
                s.user,
                s.ip,
                s.user_agent,
                s.started_at,
                s.last_seen,
                s.expires_at,
                current=h == current,
            )
            for h, s in self._facts.sessions(self._channel, now)
            if admin or name_key(s.user) == name_key(who.user)
        ]
        return sorted(views, key=lambda v: v.last_seen, reverse=True)

    def ip_blocks(self, who: Identity) -> list[IpBlockView]:
        require(who, "admin")
        now = self._clock.now()
        return [
            IpBlockView(b.ip, b.until, b.reason, b.by, b.at)
            for b in self._facts.ip_blocks(self._channel).blocked.values()
            if b.until > now
        ]

    async def block_ip(self, who: Identity, ip: str, seconds: int) -> None:
        require(who, "admin")
        outcome = await self._handler.handle(
            ip_blocks_decider,
            ip_blocks_stream(self._channel),
            BlockIp(ip, seconds, "admin", who.user),
            CommandMeta.new(who.user),
        )
        await self._facts.caught_up(outcome.position)

    async def unblock_ip(self, who: Identity, ip: str) -> None:
        require(who, "admin")
        outcome = await self._handler.handle(
            ip_blocks_decider,
            ip_blocks_stream(self._channel),
            UnblockIp(ip, who.user),
            CommandMeta.new(who.user),
        )
        await self._facts.caught_up(outcome.position)
