"""From a credential to an `Identity`, with the role decided now from the log's facts.

A browser's session cookie or a bearer token names a user; neither decides the role. The role
is worked out on every request: admin when the name is in the configured admins or CyTube last
reported a rank at or above `admin_rank`; blessed when the name is on the blessed list; viewer
otherwise. A token's own role is a ceiling (a viewer token of an admin acts as a viewer), never
a grant, so un-blessing someone or lowering their rank takes effect at their next request.
"""

from __future__ import annotations

import logging
from datetime import datetime

from attrs import frozen

from application.clock import Clock
from application.identity.facts import IdentityFacts
from application.identity.ports import TokenVerifier
from application.identity.roles import ROLES, Identity, Role, Unauthenticated
from application.identity.rules import IdentityConfig
from application.identity.signin import session_hash
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import access_stream
from domain.identity.access import Session, TouchSession, access_decider
from domain.identity.names import name_key

log = logging.getLogger(__name__)


def lower(a: Role, b: Role) -> Role:
    return a if ROLES.index(a) <= ROLES.index(b) else b


@frozen
class SessionCaller:
    """A caller signed in through a browser session."""

    identity: Identity
    session_hash: str
    session: Session


class Authenticator:
    def __init__(
        self,
        facts: IdentityFacts,
        tokens: TokenVerifier,
        handler: CommandHandler,
        clock: Clock,
        config: IdentityConfig,
        channel: str,
    ) -> None:
        self._facts = facts
        self._tokens = tokens
        self._handler = handler
        self._clock = clock
        self._config = config
        self._channel = channel

    def role_of(self, user: str) -> Role:
        """The role `user` holds now, by the facts."""
        key = name_key(user)
        if key in self._config.admins:
            return "admin"
        threshold = self._config.admin_rank
        rank = self._facts.rank(self._channel, user)
        if threshold is not None and rank is not None and rank >= threshold:
            return "admin"
        if self._facts.blessed(self._channel).is_blessed(user):
            return "blessed"
        return "viewer"

    def from_token(self, token: str) -> Identity:
        now = self._clock.now()
        claims = self._tokens.claims(token, now=now)
        access = self._facts.access(self._channel, claims.user)
        if access.token_revoked(claims.token_id, claims.issued_at):
            raise Unauthenticated("revoked_token", "This token was revoked; ask for a new one.")
        return Identity(claims.user, lower(claims.role, self.role_of(claims.user)))

    def token_id(self, token: str) -> tuple[str, str | None, datetime]:
        """The user, id and expiry a valid token carries (for revoking it)."""
        claims = self._tokens.claims(token, now=self._clock.now())
        return claims.user, claims.token_id, claims.expires_at

    async def from_session(self, session_id: str) -> SessionCaller:
        now = self._clock.now()
        h = session_hash(session_id)
        found = self._facts.session(h, now)
        if found is None:
            raise Unauthenticated(
                "session_ended", "Your session has ended (signed out, expired or revoked)."
            )
        _, session = found
        if (now - session.last_seen).total_seconds() >= self._config.session_touch_sec:
            await self._touch(session.user, h)
        return SessionCaller(Identity(session.user, self.role_of(session.user)), h, session)

    async def _touch(self, user: str, h: str) -> None:
        """Record that the session is in use (its idle clock restarts); a log that is down
        costs nothing but the record, and the request goes on."""
        try:
            await self._handler.handle(
                access_decider,
                access_stream(self._channel, name_key(user)),
                TouchSession(h),
                CommandMeta.new(user),
            )
        except Exception as exc:
            log.info("could not record a session's use: %s", type(exc).__name__)
