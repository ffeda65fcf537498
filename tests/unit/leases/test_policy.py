"""When a lease is renewed and when it is surely no longer ours: pure decisions."""

from __future__ import annotations

from application.leases.policy import (
    LeaseTiming,
    after_failed_renewal,
    may_take_over,
    next_step,
)

T = LeaseTiming(ttl=9.0)


def test_a_fresh_lease_waits_until_its_renewal_is_due() -> None:
    step = next_step(T, sent_at=100.0, now=101.0)
    assert step.step == "wait"
    assert step.wait == 2.0  # renewed three times per TTL: due at 103


def test_a_lease_is_renewed_once_a_third_of_its_ttl_has_passed() -> None:
    assert next_step(T, sent_at=100.0, now=103.0).step == "renew"
    assert next_step(T, sent_at=100.0, now=107.0).step == "renew"


def test_a_lease_not_renewed_in_time_is_given_up_before_the_store_could_lapse_it() -> None:
    # The store lapses it at the earliest 9 s after the write was sent; we stop 20% earlier.
    assert next_step(T, sent_at=100.0, now=107.3).step == "lost"
    assert next_step(T, sent_at=100.0, now=109.0).step == "lost"
    assert T.valid_until(100.0) < 100.0 + T.ttl


def test_a_failed_renewal_is_tried_again_soon_but_never_past_the_deadline() -> None:
    retry = after_failed_renewal(T, sent_at=100.0, now=103.0)
    assert retry.step == "wait" and 0 < retry.wait <= T.renew_every
    late = after_failed_renewal(T, sent_at=100.0, now=107.0)
    assert late.step == "wait" and 107.0 + late.wait <= T.valid_until(100.0)
    assert after_failed_renewal(T, sent_at=100.0, now=107.3).step == "lost"


def test_only_an_earlier_process_of_the_same_service_may_be_taken_over_at_once() -> None:
    assert may_take_over("host:ab", "host-1-x", "host:ab", "host-2-y")
    assert not may_take_over("host:ab", "host-1-x", "host:cd", "host-2-y")  # another service
    assert not may_take_over("host:ab", "host-1-x", "host:ab", "host-1-x")  # that is us
