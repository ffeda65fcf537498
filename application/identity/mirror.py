"""The blessed list copied to a key-value bucket other Kryten services can read.

The log is the truth; the bucket is a projection of it: put on `UserBlessed`, delete on
`UserUnblessed`, and a full comparison when it starts and after any failure, so a bucket that
missed changes (or was wiped) converges. Layout: docs/identity.md.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from application.health import PartHealth
from application.identity.facts import IdentityFacts
from application.identity.ports import BlessedMirror
from domain.identity.blessed import UserBlessed, UserUnblessed
from domain.identity.names import name_key

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


class BlessedMirrorRunner:
    def __init__(self, facts: IdentityFacts, mirror: BlessedMirror, channel: str) -> None:
        self._facts = facts
        self._mirror = mirror
        self._channel = channel
        self._dirty = asyncio.Event()
        self.health = PartHealth("degraded", "not synchronised yet")
        facts.on_blessed_change(self._heard)

    def _heard(self, channel: str, _: UserBlessed | UserUnblessed) -> None:
        if channel == self._channel:
            self._dirty.set()

    async def run(self) -> None:
        await self._facts.ready()
        while True:
            self._dirty.clear()
            try:
                await self.sync()
                self.health = PartHealth("ok")
            except Exception as exc:
                self.health = PartHealth("degraded", f"the KV copy failed: {exc!r}; retrying")
                log.warning("blessed list mirror: %r; retrying", exc)
                await asyncio.sleep(2.0)
                continue
            await self._dirty.wait()

    async def sync(self) -> None:
        """Make the bucket hold exactly the list the facts hold."""
        entries = self._facts.blessed(self._channel).users
        held = await self._mirror.keys(self._channel)
        for key, entry in entries.items():
            value = _encode({"user": entry.user, "by": entry.by, "at": entry.at})
            await self._mirror.put(self._channel, name_key(key), value)
        for key in held - set(entries):
            await self._mirror.delete(self._channel, key)
