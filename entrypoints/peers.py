"""Requests that need a peer are refused at once (503) while that peer is known to be down,
instead of being accepted to wait, or failing deep inside with a 500."""

from __future__ import annotations

from entrypoints.failures import CYTUBE_DOWN, ECONOMY_DOWN, PeerUnavailable
from entrypoints.services import Services


def require_peers(services: Services, *, cytube: bool = False, economy: bool = False) -> None:
    if cytube and not services.cytube.available:
        raise PeerUnavailable(
            CYTUBE_DOWN,
            "CyTube cannot be reached through Kryten-Robot right now; nothing was changed, "
            "try again shortly (see /health).",
        )
    if economy and not services.pay.economy_available:
        raise PeerUnavailable(
            ECONOMY_DOWN,
            "The channel's economy (kryten-economy) is not answering; nothing was changed, "
            "try again shortly (see /health).",
        )
