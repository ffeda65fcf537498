"""The mutable builder the projections fold into must agree with the domain's own `evolve`:
random histories of every queue, pay and promo fact, folded both ways, give equal states after
every fact, and a state frozen earlier does not change when the builder folds on."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta
from functools import reduce
from itertools import chain
from typing import Any
from unittest.mock import patch

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import domain.queue.builder as builder_module
import domain.queue.pay_evolve as pay_evolve
from domain.media import Media
from domain.queue import events, order_model, pay_model, promo_model
from domain.queue.builder import QueueBuilder
from domain.queue.state import QueueState, evolve, initial

ITEM_IDS = [f"q{i}" for i in range(1, 8)]
REQUEST_IDS = [f"r{i}" for i in range(1, 16)]
T0 = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
TIMES = [T0 + timedelta(minutes=m) for m in (0, 3, 7, 30)]
MEDIA = [Media("yt", f"m{i}", f"Video {i}", 60 * i) for i in range(4)]

BY_NAME: dict[str, st.SearchStrategy[Any]] = {
    "item_id": st.sampled_from(ITEM_IDS),
    "target_item_id": st.sampled_from(ITEM_IDS),
    "request_id": st.sampled_from(REQUEST_IDS),
    "promo_id": st.sampled_from(["p1", "p2", "p3"]),
    "schedule_id": st.sampled_from(["s1", "s2"]),
    "user": st.sampled_from(["ann", "Ann", "bob"]),
    "media": st.sampled_from(MEDIA),
    "reason": st.sampled_from(["deleted", "temp_finished", "cleared", "owner_left"]),
    "kind": st.sampled_from(["content", "pay", "promo"]),
    "tier": st.sampled_from(["queue", "playnext"]),
    "source": st.sampled_from(["cytube", "robot", "observed"]),
    "role": st.sampled_from(["general", "lead_in"]),
    "promo_type": st.sampled_from(["event", "channel_identity"]),
    "order": st.lists(st.sampled_from(ITEM_IDS), max_size=8).map(tuple),
    "uid": st.integers(0, 6),
    "old_uid": st.integers(0, 6),
    "new_uid": st.integers(0, 6),
    "position_sec": st.floats(0, 100),
}

CLASSES = [
    cls
    for module in (events, pay_model, promo_model, order_model)
    for cls in vars(module).values()
    if isinstance(cls, type) and attrs.has(cls) and hasattr(cls, "VERSION")
]


def _strategy(cls: type, field: attrs.Attribute[Any], hints: dict[str, Any]) -> Any:
    optional = type(None) in typing.get_args(hints[field.name])
    if field.name in BY_NAME:
        base = BY_NAME[field.name]
    else:
        hint = hints[field.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        kind = args[0]
        if kind is bool:
            base = st.booleans()
        elif kind is int:
            base = st.integers(0, 400)
        elif kind is datetime:
            base = st.sampled_from(TIMES)
        else:
            base = st.sampled_from(["x", "y"])
    return st.one_of(st.none(), base) if optional else base


def _event(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: _strategy(cls, f, hints) for f in attrs.fields(cls)}
    return st.builds(cls, **fields)


HOT = [
    events.ItemAdded,
    events.ItemRemoved,
    events.ItemMoved,
    events.NowPlayingChanged,
    pay_model.PayItemRequested,
    pay_model.PayItemAttached,
    pay_model.PaymentCaptured,
    pay_model.PayItemPlayed,
    pay_model.PaymentDeclined,
    pay_model.PayItemCancelled,
    pay_model.PayItemRefunded,
    pay_model.PayItemRemoved,
]
# Every fact, with the common ones (which the builder folds itself) weighted up.
FACT = st.one_of(*(_event(c) for c in CLASSES), *(_event(c) for c in HOT * 3))


@st.composite
def _purchase(draw: st.DrawFn) -> list[Any]:
    """A purchase asked for under a new request id, then ended by a fact that finishes it."""
    request_id = f"new{draw(st.integers(0, 10**9))}"
    asked = pay_model.PayItemRequested(request_id, "ann", draw(BY_NAME["media"]), "queue", T0)
    ends = st.sampled_from(
        [
            pay_model.PaymentDeclined(request_id, "no", "no"),
            pay_model.PaymentVoided(request_id),
            pay_model.PayItemPlayed(request_id),
        ]
    )
    return [asked, draw(ends)]


@st.composite
def _paused_then_removed(draw: st.DrawFn) -> list[Any]:
    item_id = draw(BY_NAME["item_id"])
    return [
        events.NowPlayingChanged(item_id, 1, T0),
        events.PlaybackClockSet(item_id, T0, True, 3.0),
        events.ItemRemoved(item_id, 1, draw(BY_NAME["reason"])),
    ]


STEP = st.one_of(FACT.map(lambda fact: [fact]), _purchase(), _paused_then_removed())
HISTORY = st.lists(STEP, min_size=10, max_size=80).map(lambda steps: list(chain(*steps)))


def _check(start: QueueState, history: list[Any]) -> None:
    builder = QueueBuilder(start)
    state = start
    frozen: list[tuple[QueueState, QueueState]] = []
    for event in history:
        state = evolve(state, event)
        builder.apply(event)
        got = builder.freeze()
        assert got == state, f"after {event!r}"
        for request_id in REQUEST_IDS:
            assert builder.pay_item(request_id) == state.pay_item(request_id)
        frozen.append((got, state))
    for got, expected in frozen:  # nothing frozen changed as the builder folded on
        assert got == expected
        for request_id in REQUEST_IDS:
            assert got.pay_item(request_id) == expected.pay_item(request_id)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HISTORY)
def test_builder_folds_as_evolve_does(history: list[Any]) -> None:
    _check(initial("lobby"), history)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HISTORY, HISTORY)
def test_builder_from_a_state_folded_elsewhere(before: list[Any], history: list[Any]) -> None:
    """A builder started from a state `evolve` folded (as after a warm start), with its
    purchases as a plain tuple too (as the shadow loads them from its rows)."""
    start = reduce(evolve, before, initial("lobby"))
    _check(start, history)
    _check(attrs.evolve(start, pay=tuple(start.pay)), history)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HISTORY)
def test_builder_drops_the_oldest_finished_purchases_as_evolve_does(history: list[Any]) -> None:
    """With room for only two finished purchases, dropping them is exercised all the time."""
    with (
        patch.object(pay_evolve, "KEEP_FINISHED", 2),
        patch.object(builder_module, "KEEP_FINISHED", 2),
    ):
        _check(initial("lobby"), history)


def test_finished_purchases_beyond_the_limit_are_dropped_oldest_first() -> None:
    history: list[Any] = []
    for n in range(6):
        request_id = f"r{n}"
        history.append(pay_model.PayItemRequested(request_id, "ann", MEDIA[1], "queue", T0))
        history.append(pay_model.PaymentDeclined(request_id, "no", "no"))
    history.append(pay_model.PayItemRequested("last", "ann", MEDIA[1], "queue", T0))
    history.append(pay_model.PaymentCaptured("last", 10))
    with (
        patch.object(pay_evolve, "KEEP_FINISHED", 2),
        patch.object(builder_module, "KEEP_FINISHED", 2),
    ):
        _check(initial("lobby"), history)
        builder = QueueBuilder(initial("lobby"))
        for event in history:
            builder.apply(event)
    assert [p.request_id for p in builder.freeze().pay] == ["r4", "r5", "last"]


def test_a_purchase_requested_twice_is_folded_as_evolve_folds_it() -> None:
    """Two purchases under one request id: `evolve` stops indexing them, so does the builder."""
    asked = pay_model.PayItemRequested("r1", "ann", MEDIA[1], "queue", T0)
    again = pay_model.PayItemRequested("r1", "bob", MEDIA[2], "queue", T0)
    history = [asked, again, pay_model.PaymentCaptured("r1", 50), pay_model.PayItemPlayed("r1")]
    _check(initial("lobby"), history)
