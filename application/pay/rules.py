"""The port through which a purchase's decision learns the channel's request rules (the rules
capability implements it; wired in entrypoints/wiring/rules.py)."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from application.identity.roles import Identity
from domain.errors import Rejected
from domain.media import Media


class RequestRules(Protocol):
    async def decision_config(
        self, channel: str, who: Identity, media: Media
    ) -> dict[str, Any]: ...

    async def prepare(self, channel: str) -> None:
        """Before a purchase is decided: the queue's log carries the rules' order."""

    async def refused(self, channel: str, who: Identity, media: Media, refusal: Rejected) -> None:
        """A rule refused a purchase (for the log and the stats)."""


class LengthRules(Protocol):
    """What the pay flow needs of the rules to judge the length rules again on CyTube's length
    (`domain.queue.pay_rules.recheck`), and to record a refusal by one."""

    async def recheck_config(self, channel: str, user: str) -> dict[str, Any]: ...

    async def refused_on_length(
        self, channel: str, user: str, request_id: str, media: Media, code: str
    ) -> None: ...


class RuleRefusal(msgspec.Struct):
    """One rule the purchase would break now: stable code, a sentence with the number that
    applies and when it clears, and (for the cooldown and repeats) when it can be bought."""

    code: str
    message: str
    retry_at: str | None = None
    wait_sec: int | None = None


def as_refusal(exc: Rejected) -> RuleRefusal:
    retry = exc.extra.get("retry_at")
    wait = exc.extra.get("wait_sec")
    return RuleRefusal(
        exc.code,
        exc.message,
        retry if isinstance(retry, str) else None,
        wait if isinstance(wait, int) else None,
    )
