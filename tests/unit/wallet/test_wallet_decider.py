from __future__ import annotations

import pytest

from domain.wallet.model import (
    REMEMBERED_REQUESTS,
    CreditGranted,
    DebitDeclined,
    DebitForRequest,
    GrantCredit,
    RefundRequest,
    RequestDebited,
    RequestRefunded,
    wallet_decider,
)
from tests.unit.scenario import Scenario


@pytest.fixture
def s() -> Scenario:
    return Scenario(wallet_decider, aggregate_id="ann")


def test_a_grant_credits_the_wallet(s: Scenario) -> None:
    s.then(GrantCredit(500, "mod", "welcome"), [CreditGranted(500, "mod", "welcome", 500)])
    s.given(CreditGranted(500, "mod", "welcome", 500))
    s.then(GrantCredit(25, "mod", "rain"), [CreditGranted(25, "mod", "rain", 525)])


def test_a_debit_within_the_balance_is_taken(s: Scenario) -> None:
    s.given(CreditGranted(1000, "mod", "grant", 1000))
    s.then(DebitForRequest("r1", 250), [RequestDebited("r1", 250, 750)])
    s.then(DebitForRequest("r1", 1000), [RequestDebited("r1", 1000, 0)])


def test_a_debit_above_the_balance_is_declined_and_remembered(s: Scenario) -> None:
    s.given(CreditGranted(100, "mod", "grant", 100))
    s.then(DebitForRequest("r1", 250), [DebitDeclined("r1", 250, 100, "insufficient_balance")])
    s.given_commands(DebitForRequest("r1", 250))
    assert s.state.balance == 100
    assert s.state.requests["r1"].status == "declined"
    assert s.state.requests["r1"].code == "insufficient_balance"


def test_a_request_id_seen_before_answers_with_nothing_new(s: Scenario) -> None:
    s.given(CreditGranted(1000, "mod", "grant", 1000), RequestDebited("r1", 250, 750))
    s.then(DebitForRequest("r1", 250), [])
    s.then(DebitForRequest("r1", 750), [])  # a changed price does not re-open a request


def test_a_declined_request_stays_declined_after_a_credit(s: Scenario) -> None:
    s.given(DebitDeclined("r1", 250, 0, "insufficient_balance"))
    s.given(CreditGranted(1000, "mod", "grant", 1000))
    s.then(DebitForRequest("r1", 250), [])
    assert s.state.requests["r1"].status == "declined"
    s.then(DebitForRequest("r2", 250), [RequestDebited("r2", 250, 750)])


def test_a_refund_returns_what_the_request_took_once(s: Scenario) -> None:
    s.given(CreditGranted(1000, "mod", "grant", 1000), RequestDebited("r1", 250, 750))
    s.then(RefundRequest("r1", "add_failed"), [RequestRefunded("r1", 250, "add_failed", 1000)])
    s.given_commands(RefundRequest("r1", "add_failed"))
    assert s.state.balance == 1000
    s.then(RefundRequest("r1", "add_failed"), [])
    s.then(RefundRequest("r1", "another_reason"), [])


def test_a_refunded_request_is_not_debited_again(s: Scenario) -> None:
    s.given(
        CreditGranted(1000, "mod", "grant", 1000),
        RequestDebited("r1", 250, 750),
        RequestRefunded("r1", 250, "owner_left", 1000),
    )
    s.then(DebitForRequest("r1", 250), [])
    held = s.state.requests["r1"]
    assert (held.status, held.amount, held.balance, held.refund_balance) == (
        "refunded",
        250,
        750,
        1000,
    )


def test_refunding_an_unknown_request_is_refused(s: Scenario) -> None:
    s.given(CreditGranted(1000, "mod", "grant", 1000))
    s.then_rejected(RefundRequest("nope", "add_failed"), "unknown_request_id")


def test_refunding_a_declined_request_is_refused(s: Scenario) -> None:
    s.given(DebitDeclined("r1", 250, 0, "insufficient_balance"))
    s.then_rejected(RefundRequest("r1", "add_failed"), "nothing_to_refund")


@pytest.mark.parametrize("amount", [0, -5, True])
def test_amounts_must_be_positive_whole_numbers(s: Scenario, amount: int) -> None:
    s.given(CreditGranted(1000, "mod", "grant", 1000))
    s.then_rejected(GrantCredit(amount, "mod", "grant"), "invalid_amount")
    s.then_rejected(DebitForRequest("r1", amount), "invalid_amount")


@pytest.mark.parametrize("request_id", ["", "   ", "x" * 201])
def test_request_ids_must_be_usable(s: Scenario, request_id: str) -> None:
    s.given(CreditGranted(1000, "mod", "grant", 1000))
    s.then_rejected(DebitForRequest(request_id, 10), "invalid_request_id")
    s.then_rejected(RefundRequest(request_id, "x"), "invalid_request_id")


def test_replay_rebuilds_balance_and_outcomes(s: Scenario) -> None:
    s.given_commands(
        GrantCredit(600, "mod", "grant"),
        DebitForRequest("r1", 250),
        DebitForRequest("r2", 500),
        RefundRequest("r1", "add_failed"),
        DebitForRequest("r3", 600),
    )
    state = s.state
    assert state.balance == 0
    assert {k: v.status for k, v in state.requests.items()} == {
        "r1": "refunded",
        "r2": "declined",
        "r3": "debited",
    }


def test_a_wallet_remembers_its_latest_requests_not_all_of_them(s: Scenario) -> None:
    n = REMEMBERED_REQUESTS + 50
    s.given(CreditGranted(10 * n, "mod", "grant", 10 * n))
    s.given(*[RequestDebited(f"r{i}", 10, 10 * (n - i - 1)) for i in range(n)])
    assert len(s.state.requests) == REMEMBERED_REQUESTS
    assert "r0" not in s.state.requests and "r49" not in s.state.requests
    assert s.state.requests[f"r{n - 1}"].status == "debited"
    # A recent request is still idempotent and refundable...
    s.then(DebitForRequest(f"r{n - 1}", 10), [])
    s.then(
        RefundRequest(f"r{n - 1}", "owner_left"),
        [RequestRefunded(f"r{n - 1}", 10, "owner_left", 10)],
    )
    # ...a refund of one long forgotten is refused with a clear reason, never guessed.
    s.then_rejected(RefundRequest("r0", "owner_left"), "unknown_request_id")
