"""Signing in: a one-time code sent as a CyTube PM, then a server-side session.

The code is drawn here (by `new_code`), hashed with a key the log never sees, and sent only in
the PM; every step is recorded (requested, sent or not, each failed try, verified, locked out,
an address blocked). Times are wall-clock times: a code lives five real minutes even when the
simulator's clock runs fast.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Final

import msgspec

from application.clock import Clock
from application.identity.facts import IdentityFacts
from application.identity.ports import ChannelUsers, CodeHasher
from application.identity.rules import IdentityConfig
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import access_stream, ip_blocks_stream, otp_stream
from domain.decider import Context
from domain.errors import Rejected
from domain.identity.access import StartSession, access_decider
from domain.identity.ip_blocks import BlockIp, ip_blocks_decider
from domain.identity.names import check_name, name_key
from domain.identity.otp import (
    OtpAttemptFailed,
    OtpLockedOut,
    OtpVerified,
    OtpVerifyWithoutRequest,
    RecordCodeNotSent,
    RecordCodeSent,
    RequestCode,
    VerifyCode,
    otp_decider,
)

CODE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: nothing to mistake when copying from a chat window."""
CODE_LENGTH: Final = 8
_SEPARATORS = re.compile(r"[\s-]+")


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_hash(session_id: str) -> str:
    """What the log and the facts know a session by: never the cookie itself."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def normalise_code(code: str) -> str:
    """What a person pasted, as the code was drawn: spaces and dashes gone, upper case."""
    return _SEPARATORS.sub("", code).upper()[:64]


class CodeRequested(msgspec.Struct):
    user: str
    expires_at: datetime
    ttl_sec: int
    message: str


class SignedIn(msgspec.Struct):
    user: str
    session_id: str
    expires_at: datetime


class Blocked(msgspec.Struct):
    ip: str
    until: datetime


_WORDS = {
    "wrong": ("otp_wrong", "That code is wrong; {left} {tries} left."),
    "expired": ("otp_expired", "That code has expired (codes live {ttl} min); ask for a new one."),
    "used": ("otp_used", "That code was already used: each code signs in once. Ask for a new one."),
    "exhausted": ("otp_exhausted", "That code had its 3 tries; ask for a new one."),
    "not_sent": ("otp_not_sent", "No code reached you last time; ask for a new one."),
}


class SignInService:
    def __init__(
        self,
        handler: CommandHandler,
        facts: IdentityFacts,
        users: ChannelUsers,
        hasher: CodeHasher,
        clock: Clock,
        config: IdentityConfig,
        channel: str,
        *,
        draw_code: Callable[[], str] = new_code,
        draw_session_id: Callable[[], str] = new_session_id,
    ) -> None:
        self._handler = handler
        self._facts = facts
        self._users = users
        self._hasher = hasher
        self._clock = clock
        self._config = config
        self._channel = channel
        self._draw_code = draw_code
        self._draw_session_id = draw_session_id

    @property
    def channel(self) -> str:
        return self._channel

    def _decision_config(self, ip: str, now: datetime) -> dict[str, object]:
        rules = self._config.otp
        activity = self._facts.ip_activity(self._channel, ip, now, rules)
        return {"otp_rules": rules, "ip_activity": activity}

    async def request_code(self, name: str, ip: str) -> CodeRequested:
        """Send a code to `name` as a CyTube PM, or say why not (rate limits, not in the
        channel, CyTube down)."""
        check_name(name)
        stream = otp_stream(self._channel, name_key(name))
        now = self._clock.now()
        probe = RequestCode("probe", name, ip, "", "")
        state = await self._handler.state(otp_decider, stream)
        otp_decider.decide(state, probe, Context(now=now, config=self._decision_config(ip, now)))
        lookup_failed = False
        try:
            present = await self._users.user(self._channel, name)
        except Exception:
            present, lookup_failed = None, True
        canonical = str(getattr(present, "name", "") or name)
        code = self._draw_code()
        challenge_id = uuid.uuid4().hex
        key_id = self._hasher.key_id
        code_hash = self._hasher.hash(key_id, challenge_id, code)
        assert code_hash is not None
        actor = f"otp:{name_key(name)}"
        outcome = await self._handler.handle(
            otp_decider,
            stream,
            RequestCode(challenge_id, canonical, ip, code_hash, key_id),
            CommandMeta(f"otp:{challenge_id}", actor=actor, correlation_id=challenge_id),
            config=self._decision_config(ip, now),
        )
        expires_at = outcome.events[0].expires_at
        reason: str | None = None
        if lookup_failed:
            reason = "cytube_unavailable"
        elif present is None:
            reason = "not_in_channel"
        else:
            ttl_min = self._config.otp.ttl_sec // 60
            try:
                await self._users.pm(
                    self._channel,
                    canonical,
                    f"Your webqueue sign-in code is {code} (valid {ttl_min} min, one use). "
                    "If you did not ask for it, ignore this message.",
                )
            except Exception:
                reason = "cytube_unavailable"
        meta = CommandMeta(f"otp:{challenge_id}:sent", actor=actor, correlation_id=challenge_id)
        if reason is None:
            done = await self._handler.handle(
                otp_decider, stream, RecordCodeSent(challenge_id), meta
            )
        else:
            done = await self._handler.handle(
                otp_decider, stream, RecordCodeNotSent(challenge_id, reason), meta
            )
        await self._facts.caught_up(done.position)
        if reason == "not_in_channel":
            raise Rejected(
                "not_in_channel",
                f"{canonical} is not in the channel {self._channel} now, and CyTube delivers a PM "
                "only to someone in the channel. Join the channel, then ask again.",
            )
        if reason is not None:
            raise Rejected(
                "cytube_unavailable",
                "CyTube cannot be reached, so no code could be sent. Try again in a minute.",
            )
        ttl = self._config.otp.ttl_sec
        return CodeRequested(
            canonical,
            expires_at,
            ttl,
            f"A code is on its way to {canonical} as a CyTube PM; it works once, for "
            f"{ttl // 60} min.",
        )

    async def verify(self, name: str, code: str, ip: str, user_agent: str) -> SignedIn:
        """A session for `name` if `code` is their live code; otherwise the refusal, after the
        failed try is recorded."""
        check_name(name)
        key = name_key(name)
        stream = otp_stream(self._channel, key)
        state = await self._handler.state(otp_decider, stream)
        challenge = state.challenge
        typed = normalise_code(code)
        if challenge is not None:
            candidate = self._hasher.hash(challenge.key_id, challenge.challenge_id, typed) or ""
            challenge_id: str | None = challenge.challenge_id
        else:
            candidate, challenge_id = "", None
        earlier = state.earlier
        earlier_hash = (
            self._hasher.hash(earlier.key_id, earlier.challenge_id, typed) or ""
            if earlier is not None
            else ""
        )
        now = self._clock.now()
        outcome = await self._handler.handle(
            otp_decider,
            stream,
            VerifyCode(challenge_id, candidate, ip, earlier_hash),
            CommandMeta.new(f"otp:{key}", correlation_id=challenge_id),
            config=self._decision_config(ip, now),
        )
        await self._facts.caught_up(outcome.position)
        events = outcome.events
        verified = next((e for e in events if isinstance(e, OtpVerified)), None)
        if verified is not None:
            return await self._start_session(verified.user, ip, user_agent, verified.challenge_id)
        locked = next((e for e in events if isinstance(e, OtpLockedOut)), None)
        lock_words = ""
        if locked is not None:
            minutes = max(1, round((locked.until - now).total_seconds() / 60))
            lock_words = f" Too many wrong codes: {locked.user} is locked out for {minutes} min."
        if any(isinstance(e, OtpVerifyWithoutRequest) for e in events):
            hours = self._config.otp.block_sec // 3600
            raise Rejected(
                "otp_not_requested",
                f"No code was requested for {name}. If you asked for one, ask again. If you did "
                f"not, you can block this address from sign-in codes for {hours} h.",
            )
        failed = next(e for e in events if isinstance(e, OtpAttemptFailed))
        code_, words = _WORDS.get(failed.reason, _WORDS["wrong"])
        left = failed.attempts_left
        message = words.format(
            left=left, tries="try" if left == 1 else "tries", ttl=self._config.otp.ttl_sec // 60
        )
        if failed.reason == "wrong" and left == 0:
            code_, message = "otp_exhausted", "That code is wrong, and that was its last try."
            message += " Ask for a new code."
        if locked is not None:
            # The lockout is what counts now: "2 tries left" beside it said the opposite.
            message = "That code is wrong." if failed.reason == "wrong" else message
            raise Rejected("otp_locked", message + lock_words)
        raise Rejected(code_, message)

    async def _start_session(self, user: str, ip: str, agent: str, challenge: str) -> SignedIn:
        session_id = self._draw_session_id()
        config = self._config
        outcome = await self._handler.handle(
            access_decider,
            access_stream(self._channel, name_key(user)),
            StartSession(
                session_hash(session_id),
                user,
                ip,
                agent,
                config.session_idle_sec,
                config.session_absolute_sec,
            ),
            CommandMeta.new(user, correlation_id=challenge),
        )
        await self._facts.caught_up(outcome.position)
        return SignedIn(user, session_id, outcome.events[0].expires_at)

    async def block_ip(self, ip: str) -> Blocked:
        """Block `ip` from sign-in codes after a try with no code requested (the offer made)."""
        now = self._clock.now()
        rules = self._config.otp
        activity = self._facts.ip_activity(self._channel, ip, now, rules)
        outcome = await self._handler.handle(
            ip_blocks_decider,
            ip_blocks_stream(self._channel),
            BlockIp(ip, rules.block_sec, "not_requested", "anonymous", activity.unrequested),
            CommandMeta.new("anonymous"),
        )
        await self._facts.caught_up(outcome.position)
        until = self._facts.ip_blocks(self._channel).blocked_until(ip, self._clock.now())
        return Blocked(ip, until or now)
