"""Identity: sign-in by CyTube PM, sessions, bearer tokens, the blessed list and its KV copy,
and the facts all of them read, folded from the log. Its decisions run on the wall clock (a
code lives five real minutes even when the simulator's clock runs fast), through a command
handler of its own over the same log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from attrs import define

from adapters.identity.hashing import HmacCodeHasher, HmacCsrf
from adapters.identity.tokens import TokenSigner
from application.clock import Clock
from application.health import PartHealth
from application.identity.access import AccessService
from application.identity.blessed import BlessedService
from application.identity.credentials import Authenticator
from application.identity.facts import IdentityFacts
from application.identity.mirror import BlessedMirrorRunner
from application.identity.ports import BlessedMirror, ChannelUsers
from application.identity.rules import IdentityConfig
from application.identity.signin import SignInService
from application.log.command_handler import CommandHandler
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain

log = logging.getLogger("webqueue")
READY_WAIT_SEC = 60.0


@define
class Identity(Plain):
    signer: TokenSigner
    wall_clock: Clock
    config: IdentityConfig
    facts: IdentityFacts
    authenticator: Authenticator
    signin: SignInService
    access: AccessService
    blessed: BlessedService
    csrf: HmacCsrf
    mirror: BlessedMirrorRunner | None = None

    def background(self) -> Sequence[Background]:
        work = [Background("identity-facts", self.facts.run)]
        if self.mirror is not None:
            work.append(Background("blessed-kv", self.mirror.run))
        return work

    async def start(self) -> None:
        """Requests are answered from the facts: let them reach the log's head first."""
        try:
            async with asyncio.timeout(READY_WAIT_SEC):
                await self.facts.ready()
        except TimeoutError:
            log.warning("identity facts not caught up after %.0f s; serving anyway", READY_WAIT_SEC)

    async def health(self) -> Mapping[str, PartHealth]:
        parts = {
            "identity": PartHealth("ok")
            if self.facts.is_ready
            else PartHealth("degraded", "still reading the log's identity facts")
        }
        if self.mirror is not None:
            parts["blessed-kv"] = self.mirror.health
        return parts


def wire_identity(
    kernel: Kernel,
    users: ChannelUsers,
    signer: TokenSigner,
    hasher: HmacCodeHasher,
    csrf: HmacCsrf,
    mirror: BlessedMirror | None,
) -> Identity:
    settings = kernel.settings
    config = settings.identity
    clock = kernel.wall_clock
    channel = settings.channel
    handler = CommandHandler(kernel.tail, clock, telemetry=kernel.metrics.telemetry)
    facts = IdentityFacts(kernel.tail)
    return Identity(
        signer=signer,
        wall_clock=clock,
        config=config,
        facts=facts,
        authenticator=Authenticator(facts, signer, handler, clock, config, channel),
        signin=SignInService(handler, facts, users, hasher, clock, config, channel),
        access=AccessService(handler, facts, clock, channel),
        blessed=BlessedService(handler, facts, channel),
        csrf=csrf,
        mirror=None if mirror is None else BlessedMirrorRunner(facts, mirror, channel),
    )
