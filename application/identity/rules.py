"""The settings of identity: who is an admin, how long sessions live, sign-in limits."""

from __future__ import annotations

from attrs import field, frozen

from domain.identity.names import name_key
from domain.identity.otp import OtpRules


def _keys(names: tuple[str, ...] | list[str] | frozenset[str]) -> frozenset[str]:
    return frozenset(name_key(n) for n in names if n.strip())


@frozen
class IdentityConfig:
    """`admins`: names that are admins whatever CyTube says; `admin_rank`: a CyTube rank at or
    above which someone in the channel is an admin too (3 is a channel admin; None: ranks make
    nobody admin). Sessions end after `session_idle_sec` unused or `session_absolute_sec` in all.
    """

    admins: frozenset[str] = field(factory=frozenset, converter=_keys)
    admin_rank: float | None = 3.0
    session_idle_sec: int = 24 * 3600
    session_absolute_sec: int = 30 * 24 * 3600
    session_touch_sec: int = 600
    secure_cookies: bool | None = None
    otp: OtpRules = field(factory=OtpRules)
