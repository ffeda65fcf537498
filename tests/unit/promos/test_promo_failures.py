"""A promo CyTube would not take is dropped for its target, not chosen again and again."""

from __future__ import annotations

import pytest

from domain.promos.config import GeneralCadence, PromoConfig
from domain.queue.promo_model import FailPromo, PromoCancelled
from tests.unit.promos.test_promo_policy import Director, channel

ONLY_FP = PromoConfig(general=GeneralCadence(every_n_items=99))
EVERY_ITEM = PromoConfig(general=GeneralCadence(every_n_items=1))


@pytest.mark.parametrize("reason", ["add_failed", "move_failed"])
def test_a_lead_in_that_failed_is_not_chosen_again_for_its_target(reason: str) -> None:
    s = channel(3, 97, 3)
    d = Director(s)
    [fp] = d.direct(ONLY_FP)
    assert s.when(FailPromo(fp.promo_id, reason)) == (PromoCancelled(fp.promo_id, reason),)
    s.given_commands(FailPromo(fp.promo_id, reason))
    assert s.when(FailPromo(fp.promo_id, reason)) == ()  # once
    assert d.direct(ONLY_FP) == []  # the next pass leaves the movie without one
    s.then_rejected(FailPromo("p999", reason), "unknown_promo")


def test_a_lead_in_dropped_for_another_reason_may_be_chosen_again() -> None:
    s = channel(3, 97, 3)
    d = Director(s)
    [fp] = d.direct(ONLY_FP)
    s.given(PromoCancelled(fp.promo_id, "superseded"))  # not CyTube's refusal
    [again] = d.direct(ONLY_FP)
    assert (again.promo_type, again.target_item_id) == ("feature_presentation", "q2")


def test_a_general_promo_that_failed_is_not_chosen_again_for_its_slot() -> None:
    s = channel(3, 3, 3)
    d = Director(s)
    chosen = d.direct(EVERY_ITEM)
    general = [c for c in chosen if c.role == "general"]
    assert general, chosen
    s.given_commands(FailPromo(general[0].promo_id, "move_failed"))
    assert [c for c in d.direct(EVERY_ITEM) if c.role == "general"] == []
