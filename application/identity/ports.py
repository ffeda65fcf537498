"""What identity needs from the outside world."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from attrs import frozen

from application.identity.roles import Role


class CodeHasher(Protocol):
    """A keyed hash of a one-time code, so the log holds nothing a code can be read from."""

    @property
    def key_id(self) -> str:
        """The key new codes are hashed with."""
        ...

    def hash(self, key_id: str, challenge_id: str, code: str) -> str | None:
        """The code's hash under the key `key_id`, or None when that key is no longer held."""
        ...


class CsrfKeys(Protocol):
    def token(self, session_id: str) -> str: ...

    def check(self, session_id: str, token: str) -> bool: ...


@frozen
class Claims:
    """What a valid bearer token says: its role is a ceiling, never a grant."""

    user: str
    role: Role
    issued_at: datetime
    expires_at: datetime
    token_id: str | None


class TokenVerifier(Protocol):
    def claims(self, token: str, *, now: datetime) -> Claims:
        """The token's claims, or `Unauthenticated`."""
        ...


class ChannelUsers(Protocol):
    """The CyTube port's part sign-in uses: who is in the channel, and a PM to them."""

    async def user(self, channel: str, name: str) -> object | None: ...

    async def pm(self, channel: str, to: str, message: str) -> None: ...


class BlessedMirror(Protocol):
    """A copy of the blessed list other services can read (a NATS KV bucket)."""

    async def put(self, channel: str, user_key: str, value: bytes) -> None: ...

    async def delete(self, channel: str, user_key: str) -> None: ...

    async def keys(self, channel: str) -> set[str]: ...
