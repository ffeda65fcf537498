"""Addresses blocked from sign-in codes, one aggregate per channel.

A person told "no code was requested for this name" may block the address the try came from
(their own, or one someone is misusing) for `OtpRules.block_sec`; an admin may lift it. The
caller proves the offer was made: `unrequested` counts the address's recent tries without a code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import ClassVar

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected


@frozen
class BlockIp:
    ip: str
    seconds: int
    reason: str
    by: str
    unrequested: int = 0


@frozen
class UnblockIp:
    ip: str
    by: str


IpBlockCommand = BlockIp | UnblockIp


@frozen
class IpBlocked:
    VERSION: ClassVar[int] = 1
    ip: str
    until: datetime
    reason: str
    by: str
    at: datetime


@frozen
class IpUnblocked:
    VERSION: ClassVar[int] = 1
    ip: str
    by: str
    at: datetime


IpBlockEvent = IpBlocked | IpUnblocked
IP_BLOCK_EVENTS: tuple[type, ...] = (IpBlocked, IpUnblocked)


def _frozen(value: Mapping[str, IpBlocked]) -> Mapping[str, IpBlocked]:
    return MappingProxyType(dict(value))


@frozen
class IpBlocksState:
    channel: str
    blocked: Mapping[str, IpBlocked] = field(factory=dict, converter=_frozen)

    def blocked_until(self, ip: str, now: datetime) -> datetime | None:
        held = self.blocked.get(ip)
        return held.until if held is not None and held.until > now else None


def initial(channel: str) -> IpBlocksState:
    return IpBlocksState(channel=channel)


def decide(state: IpBlocksState, cmd: IpBlockCommand, ctx: Context) -> tuple[IpBlockEvent, ...]:
    now = ctx.now
    match cmd:
        case BlockIp():
            if not cmd.ip or len(cmd.ip) > 64:
                raise Rejected("invalid_ip", "That is not an address.")
            if cmd.reason == "not_requested" and cmd.unrequested < 1:
                raise Rejected(
                    "nothing_to_block",
                    "This address made no sign-in try without a code; there is nothing to block.",
                )
            if not 60 <= cmd.seconds <= 365 * 86400:
                raise Rejected("invalid_duration", "A block lasts 1 minute to 365 days.")
            until = now + timedelta(seconds=cmd.seconds)
            held = state.blocked_until(cmd.ip, now)
            if held is not None and held >= until:
                return ()
            return (IpBlocked(cmd.ip, until, cmd.reason, cmd.by, now),)
        case UnblockIp():
            if state.blocked_until(cmd.ip, now) is None:
                raise Rejected("not_blocked", f"{cmd.ip} is not blocked.")
            return (IpUnblocked(cmd.ip, cmd.by, now),)
    raise Rejected("unknown_command", f"IP blocks do not handle {type(cmd).__name__}.")


def evolve(state: IpBlocksState, event: IpBlockEvent) -> IpBlocksState:
    blocked = {ip: b for ip, b in state.blocked.items() if b.until > event.at}
    match event:
        case IpBlocked():
            blocked[event.ip] = event
        case IpUnblocked():
            blocked.pop(event.ip, None)
    return replace(state, blocked=blocked)


ip_blocks_decider: Decider[IpBlocksState, IpBlockCommand, IpBlockEvent] = Decider(
    aggregate="ip_blocks", initial=initial, decide=decide, evolve=evolve
)
