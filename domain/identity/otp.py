"""Signing in with a one-time code: one aggregate per (channel, user name).

A code is chosen outside (at random), sent as a CyTube PM, and only its keyed hash reaches the
command and the event, so the log never holds a code. A code is single use, lives `ttl_sec`,
and allows `ATTEMPTS` (3) tries. Requests are limited per name here and per address by what the
caller counted (`IpActivity`, from the log's facts); repeated failures lock the name out for a
time that doubles with each lockout of the day. A try while locked, throttled or blocked is
refused with nothing written: a flood must not fill the log.

Every decision that passes the gates is an event, failed tries included; the caller turns the
failure events into the refusal a person reads.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import ClassVar, Final

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.identity.names import check_name

ATTEMPTS: Final = 3
"""Tries per code: a hard limit, not a setting."""
REMEMBER: Final = 50
"""Recent request and failure times kept per name (more than any window's limit)."""
STALE_SEC: Final = 3600
"""A code that ended longer ago than this counts as never requested."""


@frozen
class OtpRules:
    """The settings of sign-in; each limit is the largest number allowed inside its window."""

    ttl_sec: int = 300
    request_window_sec: int = 900
    requests_per_name: int = 3
    requests_per_ip: int = 10
    failures_per_ip: int = 10
    lockout_after: int = 5
    lockout_window_sec: int = 3600
    lockout_sec: int = 900
    lockout_max_sec: int = 86400
    block_sec: int = 72 * 3600


@frozen
class IpActivity:
    """What the log says of one address inside the windows of `OtpRules`."""

    requests: int = 0
    failures: int = 0
    blocked_until: datetime | None = None
    unrequested: int = 0


# ---- commands ---------------------------------------------------------------------------------


@frozen
class RequestCode:
    challenge_id: str
    user: str
    ip: str
    code_hash: str
    key_id: str


@frozen
class RecordCodeSent:
    challenge_id: str


@frozen
class RecordCodeNotSent:
    challenge_id: str
    reason: str


@frozen
class VerifyCode:
    """`candidate_hash` is the try hashed like the code was (same key, same challenge id);
    `earlier_hash` the same try hashed for the code a newer request replaced, if one is kept."""

    challenge_id: str | None
    candidate_hash: str
    ip: str
    earlier_hash: str = ""


OtpCommand = RequestCode | RecordCodeSent | RecordCodeNotSent | VerifyCode

# ---- events -----------------------------------------------------------------------------------


@frozen
class OtpRequested:
    VERSION: ClassVar[int] = 1
    challenge_id: str
    user: str
    ip: str
    code_hash: str
    key_id: str
    at: datetime
    expires_at: datetime


@frozen
class OtpSent:
    VERSION: ClassVar[int] = 1
    challenge_id: str
    at: datetime


@frozen
class OtpSendFailed:
    VERSION: ClassVar[int] = 1
    challenge_id: str
    reason: str
    at: datetime


@frozen
class OtpAttemptFailed:
    """`reason`: wrong, expired, used, exhausted, not_sent; `attempts_left` for this code."""

    VERSION: ClassVar[int] = 1
    challenge_id: str
    ip: str
    reason: str
    attempts_left: int
    at: datetime


@frozen
class OtpVerified:
    VERSION: ClassVar[int] = 1
    challenge_id: str
    user: str
    ip: str
    at: datetime


@frozen
class OtpVerifyWithoutRequest:
    VERSION: ClassVar[int] = 1
    user: str
    ip: str
    at: datetime


@frozen
class OtpLockedOut:
    VERSION: ClassVar[int] = 1
    user: str
    failures: int
    until: datetime
    at: datetime


OtpEvent = (
    OtpRequested
    | OtpSent
    | OtpSendFailed
    | OtpAttemptFailed
    | OtpVerified
    | OtpVerifyWithoutRequest
    | OtpLockedOut
)
OTP_EVENTS: tuple[type, ...] = (
    OtpRequested,
    OtpSent,
    OtpSendFailed,
    OtpAttemptFailed,
    OtpVerified,
    OtpVerifyWithoutRequest,
    OtpLockedOut,
)

# ---- state ------------------------------------------------------------------------------------


@frozen
class Challenge:
    """`sent`: None until the PM's outcome is known; `ended`: verified or exhausted."""

    challenge_id: str
    code_hash: str
    key_id: str
    ip: str
    requested_at: datetime
    expires_at: datetime
    attempts_left: int = ATTEMPTS
    sent: bool | None = None
    ended: str | None = None


@frozen
class OtpState:
    user: str
    name: str = ""
    challenge: Challenge | None = None
    # The code a newer request replaced, still good until it expires: its owner has it in a
    # PM too, and someone else asking for their name must not void the code they are typing.
    earlier: Challenge | None = None
    requests: tuple[datetime, ...] = field(default=())
    failures: tuple[datetime, ...] = field(default=())
    lockouts: tuple[datetime, ...] = field(default=())
    locked_until: datetime | None = None

    def live_challenge(self, now: datetime) -> Challenge | None:
        """The code that can still be tried now, if any."""
        c = self.challenge
        if c is None or c.ended is not None or c.sent is False or now >= c.expires_at:
            return None
        return c


def initial(user: str) -> OtpState:
    return OtpState(user=user)


def _within(times: tuple[datetime, ...], now: datetime, seconds: int) -> list[datetime]:
    start = now - timedelta(seconds=seconds)
    return [t for t in times if t > start]


def _wait_words(seconds: float) -> str:
    minutes = max(1, int(-(-seconds // 60)))
    if minutes >= 120:
        return f"{-(-minutes // 60)} h"
    return f"{minutes} min"


def _rules(ctx: Context) -> OtpRules:
    rules = ctx.config.get("otp_rules")
    return rules if isinstance(rules, OtpRules) else OtpRules()


def _ip(ctx: Context) -> IpActivity:
    ip = ctx.config.get("ip_activity")
    return ip if isinstance(ip, IpActivity) else IpActivity()


def _gates(state: OtpState, name: str, ctx: Context, rules: OtpRules, ip: IpActivity) -> None:
    """Refusals that write nothing: blocked address, locked name, throttled address."""
    now = ctx.now
    if ip.blocked_until is not None and ip.blocked_until > now:
        raise Rejected(
            "ip_blocked",
            "Sign-in codes are blocked from this address for "
            f"{_wait_words((ip.blocked_until - now).total_seconds())} more.",
        )
    if state.locked_until is not None and state.locked_until > now:
        raise Rejected(
            "otp_locked",
            f"Too many wrong codes for {name}; try again in "
            f"{_wait_words((state.locked_until - now).total_seconds())}.",
        )
    if ip.failures >= rules.failures_per_ip:
        raise Rejected(
            "ip_throttled",
            f"{ip.failures} wrong codes came from this address in the last "
            f"{rules.request_window_sec // 60} min; the limit is {rules.failures_per_ip}. "
            "Try again later.",
        )


def _request(state: OtpState, cmd: RequestCode, ctx: Context) -> tuple[OtpEvent, ...]:
    check_name(cmd.user)
    rules, ip, now = _rules(ctx), _ip(ctx), ctx.now
    _gates(state, cmd.user, ctx, rules, ip)
    recent = _within(state.requests, now, rules.request_window_sec)
    if len(recent) >= rules.requests_per_name:
        wait = (min(recent) + timedelta(seconds=rules.request_window_sec) - now).total_seconds()
        raise Rejected(
            "otp_rate_limited",
            f"{len(recent)} codes were asked for {cmd.user} in the last "
            f"{rules.request_window_sec // 60} min; the limit is {rules.requests_per_name}. "
            f"Try again in {_wait_words(wait)}.",
        )
    if ip.requests >= rules.requests_per_ip:
        raise Rejected(
            "otp_rate_limited_ip",
            f"{ip.requests} codes were asked from this address in the last "
            f"{rules.request_window_sec // 60} min; the limit is {rules.requests_per_ip}. "
            "Try again later.",
        )
    expires = now + timedelta(seconds=rules.ttl_sec)
    return (
        OtpRequested(cmd.challenge_id, cmd.user, cmd.ip, cmd.code_hash, cmd.key_id, now, expires),
    )


def _failed(
    state: OtpState, challenge_id: str, ip: str, reason: str, left: int, ctx: Context
) -> tuple[OtpEvent, ...]:
    """A failed try, and the lockout it trips when the name has failed too often."""
    rules, now = _rules(ctx), ctx.now
    events: list[OtpEvent] = [OtpAttemptFailed(challenge_id, ip, reason, left, now)]
    failures = [*_within(state.failures, now, rules.lockout_window_sec), now]
    if len(failures) >= rules.lockout_after:
        today = _within(state.lockouts, now, 86400)
        seconds = min(rules.lockout_sec * 2 ** len(today), rules.lockout_max_sec)
        events.append(
            OtpLockedOut(
                state.name or state.user, len(failures), now + timedelta(seconds=seconds), now
            )
        )
    return tuple(events)


def _verify(state: OtpState, cmd: VerifyCode, ctx: Context) -> tuple[OtpEvent, ...]:
    rules, ip, now = _rules(ctx), _ip(ctx), ctx.now
    name = state.name or state.user
    _gates(state, name, ctx, rules, ip)
    e = state.earlier
    if (
        e is not None
        and cmd.earlier_hash
        and e.sent is True
        and e.ended is None
        and now < e.expires_at
        and hmac.compare_digest(e.code_hash, cmd.earlier_hash)
    ):
        return (OtpVerified(e.challenge_id, name, cmd.ip, now),)
    c = state.challenge
    if c is None or now >= c.expires_at + timedelta(seconds=STALE_SEC):
        return (OtpVerifyWithoutRequest(name, cmd.ip, now),)
    if cmd.challenge_id != c.challenge_id:
        return _failed(state, c.challenge_id, cmd.ip, "expired", 0, ctx)
    if c.ended == "verified":
        return _failed(state, c.challenge_id, cmd.ip, "used", 0, ctx)
    if c.ended == "exhausted":
        return _failed(state, c.challenge_id, cmd.ip, "exhausted", 0, ctx)
    if c.sent is False:
        return _failed(state, c.challenge_id, cmd.ip, "not_sent", 0, ctx)
    if now >= c.expires_at:
        return _failed(state, c.challenge_id, cmd.ip, "expired", 0, ctx)
    if hmac.compare_digest(c.code_hash, cmd.candidate_hash):
        return (OtpVerified(c.challenge_id, name, cmd.ip, now),)
    return _failed(state, c.challenge_id, cmd.ip, "wrong", c.attempts_left - 1, ctx)


def decide(state: OtpState, cmd: OtpCommand, ctx: Context) -> tuple[OtpEvent, ...]:
    match cmd:
        case RequestCode():
            return _request(state, cmd, ctx)
        case RecordCodeSent():
            c = state.challenge
            if c is None or c.challenge_id != cmd.challenge_id or c.sent is not None:
                return ()
            return (OtpSent(cmd.challenge_id, ctx.now),)
        case RecordCodeNotSent():
            c = state.challenge
            if c is None or c.challenge_id != cmd.challenge_id or c.sent is not None:
                return ()
            return (OtpSendFailed(cmd.challenge_id, cmd.reason, ctx.now),)
        case VerifyCode():
            return _verify(state, cmd, ctx)
    raise Rejected("unknown_command", f"Sign-in does not handle {type(cmd).__name__}.")


def _keep(times: tuple[datetime, ...], at: datetime) -> tuple[datetime, ...]:
    return (*times, at)[-REMEMBER:]


def evolve(state: OtpState, event: OtpEvent) -> OtpState:
    c = state.challenge
    match event:
        case OtpRequested():
            challenge = Challenge(
                event.challenge_id,
                event.code_hash,
                event.key_id,
                event.ip,
                event.at,
                event.expires_at,
            )
            earlier = c if c is not None and c.ended is None and c.sent is True else None
            return replace(
                state,
                name=event.user,
                challenge=challenge,
                earlier=earlier,
                requests=_keep(state.requests, event.at),
            )
        case OtpSent() if c is not None and c.challenge_id == event.challenge_id:
            return replace(state, challenge=replace(c, sent=True))
        case OtpSendFailed() if c is not None and c.challenge_id == event.challenge_id:
            # No code reached anyone (the name not in the channel, CyTube down): it does not
            # count against the name's requests, or three asks for a name from anywhere would
            # keep its owner from signing in (the address's own limit still counts it).
            requests = list(state.requests)
            if c.requested_at in requests:
                del requests[len(requests) - 1 - requests[::-1].index(c.requested_at)]
            return replace(state, challenge=replace(c, sent=False), requests=tuple(requests))
        case OtpAttemptFailed():
            failures = _keep(state.failures, event.at)
            if c is not None and c.challenge_id == event.challenge_id and event.reason == "wrong":
                left = max(event.attempts_left, 0)
                c = replace(c, attempts_left=left, ended="exhausted" if left == 0 else c.ended)
            return replace(state, challenge=c, failures=failures)
        case OtpVerified() if c is not None and c.challenge_id == event.challenge_id:
            return replace(state, challenge=replace(c, ended="verified"), earlier=None, failures=())
        case OtpVerified() if state.earlier is not None and (
            state.earlier.challenge_id == event.challenge_id
        ):
            # Signed in with the code a newer one replaced: both are spent, one sign-in each.
            spent = replace(c, ended="verified") if c is not None else None
            return replace(state, challenge=spent, earlier=None, failures=())
        case OtpLockedOut():
            return replace(
                state, locked_until=event.until, lockouts=_keep(state.lockouts, event.at)
            )
    return state


otp_decider: Decider[OtpState, OtpCommand, OtpEvent] = Decider(
    aggregate="otp", initial=initial, decide=decide, evolve=evolve
)
