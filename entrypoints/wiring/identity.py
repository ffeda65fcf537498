"""Identity: who a bearer token names, and with which role; tokens expire by real time, even
when the simulator's virtual clock runs fast."""

from __future__ import annotations

from attrs import define

from adapters.identity.tokens import TokenSigner
from application.clock import Clock
from entrypoints.wiring.parts import Plain


@define
class Identity(Plain):
    signer: TokenSigner
    wall_clock: Clock


def wire_identity(signer: TokenSigner, wall_clock: Clock) -> Identity:
    return Identity(signer, wall_clock)
