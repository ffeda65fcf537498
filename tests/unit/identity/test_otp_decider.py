"""The sign-in code rules, decided with a driven clock: given events, when a command, then
events or a refusal that writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.decider import Context
from domain.errors import Rejected
from domain.identity.otp import (
    ATTEMPTS,
    IpActivity,
    OtpAttemptFailed,
    OtpLockedOut,
    OtpRequested,
    OtpRules,
    OtpSendFailed,
    OtpSent,
    OtpState,
    OtpVerified,
    OtpVerifyWithoutRequest,
    RecordCodeNotSent,
    RecordCodeSent,
    RequestCode,
    VerifyCode,
    otp_decider,
)

T0 = datetime(2025, 3, 1, 20, 0, tzinfo=UTC)
RULES = OtpRules()


def at(seconds: float, ip: IpActivity | None = None, rules: OtpRules = RULES) -> Context:
    return Context(
        now=T0 + timedelta(seconds=seconds),
        config={"otp_rules": rules, "ip_activity": ip or IpActivity()},
    )


class Otp:
    """One name's aggregate, driven by hand: each step decides, then folds what it decided."""

    def __init__(self) -> None:
        self.state: OtpState = otp_decider.initial("alice")
        self.n = 0

    def run(self, command: object, ctx: Context) -> tuple[object, ...]:
        events = otp_decider.decide(self.state, command, ctx)  # type: ignore[arg-type]
        for e in events:
            self.state = otp_decider.evolve(self.state, e)  # type: ignore[arg-type]
        return events

    def request(self, t: float, code_hash: str = "H1", **kw: object) -> str:
        self.n += 1
        cid = f"c{self.n}"
        events = self.run(RequestCode(cid, "Alice", "1.2.3.4", code_hash, "k"), at(t, **kw))  # type: ignore[arg-type]
        assert isinstance(events[0], OtpRequested)
        self.run(RecordCodeSent(cid), at(t))
        return cid

    def verify(
        self, t: float, candidate: str, cid: str | None = None, **kw: object
    ) -> tuple[object, ...]:
        cid = cid or (self.state.challenge.challenge_id if self.state.challenge else None)
        return self.run(VerifyCode(cid, candidate, "1.2.3.4"), at(t, **kw))  # type: ignore[arg-type]


def test_the_right_code_signs_in_once_and_only_once() -> None:
    otp = Otp()
    otp.request(0)
    (verified,) = otp.verify(10, "H1")
    assert isinstance(verified, OtpVerified) and verified.user == "Alice"
    (again,) = otp.verify(11, "H1")
    assert isinstance(again, OtpAttemptFailed) and again.reason == "used"


def test_a_code_expires_after_its_ttl() -> None:
    otp = Otp()
    otp.request(0)
    (late,) = otp.verify(RULES.ttl_sec, "H1")
    assert isinstance(late, OtpAttemptFailed) and late.reason == "expired"
    otp2 = Otp()
    otp2.request(0)
    assert isinstance(otp2.verify(RULES.ttl_sec - 1, "H1")[0], OtpVerified)


def test_three_tries_per_code_then_even_the_right_code_fails() -> None:
    otp = Otp()
    otp.request(0)
    lefts = [otp.verify(i, "bad")[0].attempts_left for i in range(1, ATTEMPTS + 1)]  # type: ignore[attr-defined]
    assert lefts == [2, 1, 0]
    (after,) = otp.verify(5, "H1")
    assert isinstance(after, OtpAttemptFailed) and after.reason == "exhausted"


def test_a_new_request_replaces_the_old_code() -> None:
    otp = Otp()
    first = otp.request(0, "OLD")
    otp.request(30, "NEW")
    (stale,) = otp.verify(40, "OLD", cid=first)
    assert isinstance(stale, OtpAttemptFailed) and stale.reason == "expired"
    assert isinstance(otp.verify(41, "NEW")[0], OtpVerified)


def test_a_code_that_was_not_sent_cannot_be_used() -> None:
    otp = Otp()
    otp.run(RequestCode("c1", "Alice", "1.2.3.4", "H1", "k"), at(0))
    (failed,) = otp.run(RecordCodeNotSent("c1", "not_in_channel"), at(0))
    assert isinstance(failed, OtpSendFailed)
    assert otp.run(RecordCodeSent("c1"), at(1)) == ()  # an outcome is recorded once
    assert otp.verify(2, "H1")[0].reason == "not_sent"  # type: ignore[attr-defined]


def test_a_request_whose_code_reached_nobody_does_not_count_against_the_name() -> None:
    """Asked for while the name is not in the channel (or CyTube is down), no code went out:
    three such asks from anywhere must not keep the name's owner from signing in."""
    otp = Otp()
    for i in range(RULES.requests_per_name + 2):
        cid = f"x{i}"
        otp.run(RequestCode(cid, "Alice", "203.0.113.5", "H", "k"), at(i * 10))
        otp.run(RecordCodeNotSent(cid, "not_in_channel"), at(i * 10))
    assert otp.state.requests == ()
    otp.request(100)  # the owner, now in the channel, gets a code
    assert otp.verify(101, "H1")[0].__class__.__name__ == "OtpVerified"


def test_a_newer_request_leaves_the_code_already_sent_good_until_it_expires() -> None:
    """Someone asks for alice's name again (from anywhere): she has both codes by PM, and the
    one she is typing still signs her in; once either is used, both are spent."""
    otp = Otp()
    first = otp.request(0, code_hash="H1")
    otp.request(30, code_hash="H2")
    assert otp.state.earlier is not None and otp.state.earlier.challenge_id == first
    (signed,) = otp.run(VerifyCode(otp.state.challenge.challenge_id, "X", "1.2.3.4", "H1"), at(40))  # type: ignore[union-attr]
    assert isinstance(signed, OtpVerified) and signed.challenge_id == first
    assert otp.state.earlier is None
    assert otp.verify(41, "H2")[0].reason == "used"  # type: ignore[attr-defined]


def test_a_replaced_code_expires_at_its_own_time() -> None:
    otp = Otp()
    otp.request(0, code_hash="H1")
    otp.request(60, code_hash="H2")
    late = RULES.ttl_sec + 1  # the first one's life is over, the second's is not
    (failed,) = otp.run(
        VerifyCode(otp.state.challenge.challenge_id, "X", "1.2.3.4", "H1"), at(late)
    )  # type: ignore[union-attr]
    assert isinstance(failed, OtpAttemptFailed) and failed.reason == "wrong"
    assert isinstance(otp.verify(late + 1, "H2")[0], OtpVerified)


def test_requests_per_name_are_limited_in_their_window() -> None:
    otp = Otp()
    for i in range(RULES.requests_per_name):
        otp.request(i * 60)
    before = otp.state
    with pytest.raises(Rejected) as refused:
        otp.request(200)
    assert refused.value.code == "otp_rate_limited"
    assert (
        "the limit is 3" in refused.value.message and "Try again in 12 min" in refused.value.message
    )
    assert otp.state == before  # nothing written
    otp.request(RULES.request_window_sec + 1)  # the first one left the window


def test_requests_per_address_are_limited() -> None:
    otp = Otp()
    busy = IpActivity(requests=RULES.requests_per_ip)
    with pytest.raises(Rejected) as refused:
        otp.request(0, ip=busy)
    assert (
        refused.value.code == "otp_rate_limited_ip" and "the limit is 10" in refused.value.message
    )


def test_a_blocked_address_can_neither_ask_nor_try() -> None:
    otp = Otp()
    otp.request(0)
    blocked = IpActivity(blocked_until=T0 + timedelta(hours=72))
    with pytest.raises(Rejected) as asked:
        otp.request(10, ip=blocked)
    with pytest.raises(Rejected) as tried:
        otp.verify(10, "H1", ip=blocked)
    assert asked.value.code == tried.value.code == "ip_blocked"
    assert "72 h" in asked.value.message


def test_an_address_with_many_wrong_codes_is_throttled() -> None:
    otp = Otp()
    otp.request(0)
    with pytest.raises(Rejected) as refused:
        otp.verify(1, "H1", ip=IpActivity(failures=RULES.failures_per_ip))
    assert refused.value.code == "ip_throttled"


def test_a_try_without_a_request_is_recorded_and_named() -> None:
    otp = Otp()
    (event,) = otp.verify(0, "anything")
    assert isinstance(event, OtpVerifyWithoutRequest) and event.ip == "1.2.3.4"
    otp.request(0)
    # a code long gone counts as never requested
    (old,) = otp.verify(RULES.ttl_sec + 3601, "H1")
    assert isinstance(old, OtpVerifyWithoutRequest)


def test_repeated_failures_lock_the_name_out_with_back_off() -> None:
    otp = Otp()
    t = 0.0
    locks = []
    for _round in range(2):
        while True:
            if (
                otp.state.challenge is None
                or otp.state.live_challenge(T0 + timedelta(seconds=t)) is None
            ):
                otp.request(t)
            events = otp.verify(t + 1, "bad")
            t += 2
            lock = next((e for e in events if isinstance(e, OtpLockedOut)), None)
            if lock:
                locks.append(lock)
                break
        with pytest.raises(Rejected) as locked:
            otp.verify(t, "H1")
        assert locked.value.code == "otp_locked"
        with pytest.raises(Rejected):
            otp.request(t)
        t = (lock.until - T0).total_seconds() + 1  # after the lockout
    first, second = (lock.until - lock.at for lock in locks)
    assert first == timedelta(seconds=RULES.lockout_sec)
    assert second == 2 * first  # back-off doubles within a day
    assert locks[0].failures == RULES.lockout_after


def test_a_refusal_while_locked_writes_nothing() -> None:
    otp = Otp()
    otp.state = OtpState("alice", locked_until=T0 + timedelta(minutes=5))
    before = otp.state
    with pytest.raises(Rejected):
        otp.verify(0, "x")
    assert otp.state == before


def test_events_hold_a_hash_and_never_the_code() -> None:
    otp = Otp()
    events = otp.run(RequestCode("c1", "Alice", "1.2.3.4", "hash-of-code", "k"), at(0))
    assert "hash-of-code" in repr(events)
    assert OtpSent.__annotations__.keys() == {"VERSION", "challenge_id", "at"}
