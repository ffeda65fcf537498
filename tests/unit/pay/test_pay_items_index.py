"""The indexed pay fold (`PayItems`) leaves every state exactly as the plain scan did.

The reference is the fold as it was before the index: every pay event rescans the purchases
and drops the oldest finished ones beyond KEEP_FINISHED. Random lifecycles (many more than
KEEP_FINISHED finishing, events for unknown request ids, a request id requested twice, states
that start as plain tuples holding too many finished purchases) are folded both ways.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from attrs import evolve as replace

from domain.media import Media
from domain.queue import pay_evolve
from domain.queue.pay_evolve import KEEP_FINISHED
from domain.queue.pay_model import (
    PayItem,
    PayItemAddStarted,
    PayItemAttached,
    PayItemCancelled,
    PayItemPlayed,
    PayItemPlaying,
    PayItemPositioned,
    PayItemRefunded,
    PayItemRefundRefused,
    PayItemRemoved,
    PayItemRequested,
    PayItems,
    PayItemSlotChosen,
    PaymentCaptured,
    PaymentDeclined,
)
from domain.queue.state import QueueState, evolve, initial

AT = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)


def _reference_update(state: QueueState, request_id: str, **changes: Any) -> QueueState:
    """`pay_evolve._update` before the index, verbatim."""
    pay = tuple(replace(p, **changes) if p.request_id == request_id else p for p in state.pay)
    finished = [p for p in pay if p.finished]
    if len(finished) > KEEP_FINISHED:
        drop = {p.request_id for p in finished[: len(finished) - KEEP_FINISHED]}
        pay = tuple(p for p in pay if p.request_id not in drop)
    return replace(state, pay=pay)


def _reference(state: QueueState, event: object, monkeypatch: pytest.MonkeyPatch) -> QueueState:
    plain = replace(state, pay=tuple(state.pay))
    with monkeypatch.context() as m:
        m.setattr(pay_evolve, "_update", _reference_update)
        return evolve(plain, event)  # type: ignore[arg-type]


def _event(rand: random.Random, rid: str) -> object:
    return rand.choice(
        [
            PaymentCaptured(rid, 150),
            PaymentDeclined(rid, "insufficient_balance", "no"),
            PayItemAddStarted(rid, rand.randrange(1, 4)),
            PayItemAttached(rid, f"q{rand.randrange(1, 50)}", rand.randrange(1, 50)),
            PayItemSlotChosen(rid, rand.choice([None, "q3"])),
            PayItemPositioned(rid),
            PayItemPlaying(rid),
            PayItemPlayed(rid),
            PayItemPlayed(rid),
            PayItemRemoved(rid, "deleted"),
            PayItemCancelled(rid, "owner_left", "presence"),
            PayItemRefunded(rid, 150, "owner_left"),
            PayItemRefunded(rid, 150, "owner_left"),
            PayItemRefundRefused(rid, "owner_left", "refused", "no"),
        ]
    )


def _check(state: QueueState, expected: QueueState) -> None:
    assert state == expected
    pay = state.pay
    if isinstance(pay, PayItems):
        assert pay.positions == {p.request_id: i for i, p in enumerate(pay)}
        assert pay.finished_count == sum(1 for p in pay if p.finished)
        # A lookup by request id uses the index and finds what a scan finds.
        assert all(state.pay_item(p.request_id) is p for p in pay)
        assert state.pay_item("never-requested") is None


def _fold(
    state: QueueState,
    rand: random.Random,
    steps: int,
    monkeypatch: pytest.MonkeyPatch,
    twice: float = 0.0,
) -> tuple[QueueState, int]:
    """The state after `steps` random pay events, and how many purchases were requested."""
    requested: list[str] = [p.request_id for p in state.pay]
    n = len(requested)
    for _ in range(steps):
        r = rand.random()
        if r < 0.15 or not requested:
            n += 1
            rid = f"r{n}"
            if rand.random() < twice and requested:
                rid = rand.choice(requested)  # requested twice: the fold does not refuse it
            requested.append(rid)
            media = Media("yt", f"m{n}", f"Video {n}", 120)
            event: object = PayItemRequested(rid, f"user{n % 7}", media, "queue", AT)
        elif r < 0.17:
            event = _event(rand, f"unknown{n}")
        else:
            event = _event(rand, rand.choice(requested[-300:]))
        expected = _reference(state, event, monkeypatch)
        state = evolve(state, event)  # type: ignore[arg-type]
        _check(state, expected)
    return state, n


@pytest.mark.parametrize("seed", range(3))
def test_indexed_fold_matches_the_scan(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    state, requested = _fold(initial("lobby"), random.Random(seed), 4000, monkeypatch)
    assert isinstance(state.pay, PayItems)
    assert sum(1 for p in state.pay if p.finished) <= KEEP_FINISHED
    assert len(state.pay) < requested  # old finished purchases were dropped


def test_a_request_id_twice_folds_as_the_scan_did(monkeypatch: pytest.MonkeyPatch) -> None:
    state, _ = _fold(initial("lobby"), random.Random(7), 3000, monkeypatch, twice=0.02)
    assert not isinstance(state.pay, PayItems)


def test_fold_from_a_plain_tuple_with_too_many_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    media = Media("yt", "m", "Video", 120)
    played = tuple(
        PayItem(f"old{i}", "u", media, "queue", AT, payment="captured", placement="played")
        for i in range(KEEP_FINISHED + 30)
    )
    state = replace(initial("lobby"), pay=(*played, PayItem("open", "u", media, "queue", AT)))
    # even an event for a purchase that is not there drops the excess, as the scan did
    after = evolve(state, PaymentCaptured("nobody", 1))
    _check(after, _reference(state, PaymentCaptured("nobody", 1), monkeypatch))
    assert sum(1 for p in after.pay if p.finished) == KEEP_FINISHED
    _fold(state, random.Random(9), 500, monkeypatch)


def test_pay_items_read_as_a_plain_tuple() -> None:
    media = Media("yt", "m", "Video", 120)
    items = (PayItem("a", "u", media, "queue", AT), PayItem("b", "u", media, "queue", AT))
    indexed = PayItems.of(items)
    assert isinstance(indexed, PayItems)
    assert indexed == items and hash(indexed) == hash(items) and repr(indexed) == repr(items)
    assert indexed.index(items[1]) == 1  # tuple's own methods are untouched
    assert type(PayItems.of((*items, items[0]))) is tuple  # a request id twice: not indexed
