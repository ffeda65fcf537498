"""Fair order for tier `queue` against worked examples: round-robin between buyers (a viewer's
k-th waiting item after everyone else's k-th), `playnext` unchanged, a cancel in the middle."""

from __future__ import annotations

from typing import Any

from domain.decider import Context
from domain.media import Media
from domain.queue.commands import (
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
)
from domain.queue.decider import queue_decider
from domain.queue.order_model import QueueOrderSet, SetQueueOrder
from domain.queue.pay_model import (
    CancelPayItem,
    PayItemSlotChosen,
    RecordPaymentCaptured,
    RequestPayItem,
    StartPayItemAdd,
)
from domain.queue.state import QueueState
from domain.rules.config import RulesConfig
from tests.unit.scenario import NOW

NOW_PLAYING = Media("yt", "now", "Now", 180)
RULES = RulesConfig(max_pending_per_viewer=None)


class Channel:
    def __init__(self, fair: bool) -> None:
        self.history: list[Any] = []
        self.uid = 10
        self.run(ObserveItemQueued(1, NOW_PLAYING), ObserveNowPlaying(1))
        if fair:
            self.run(SetQueueOrder(True, "admin"))

    @property
    def state(self) -> QueueState:
        return queue_decider.fold("lobby", self.history)

    def run(self, *commands: Any) -> None:
        ctx = Context(now=NOW, config={"request_rules": RULES})
        for command in commands:
            self.history.extend(queue_decider.decide(self.state, command, ctx))

    def buy(self, user: str, name: str, tier: str = "queue") -> None:
        """Request, pay, add at the end of the playlist (as CyTube does), move to the slot."""
        self.uid += 1
        m = Media("yt", name, name, 200)
        self.run(
            RequestPayItem(name, user, m, tier),  # type: ignore[arg-type]
            RecordPaymentCaptured(name, 100),
            StartPayItemAdd(name),
            ObserveItemQueued(self.uid, m, temp=True, after=None),
        )
        pay = self.state.pay_item(name)
        assert pay is not None and pay.slot_chosen
        anchor = self.state.by_id(pay.slot_after) if pay.slot_after else None
        self.run(ObserveItemMoved(self.uid, anchor.uid if anchor else "prepend"))
        assert self.state.pay_item(name).placement == "positioned"  # type: ignore[union-attr]

    def cancel(self, name: str) -> None:
        pay = self.state.pay_item(name)
        assert pay is not None and pay.item_id is not None
        item = self.state.by_id(pay.item_id)
        assert item is not None
        self.run(CancelPayItem(name, "admin_cancelled", "admin"), ObserveItemDeleted(item.uid))

    def order(self) -> list[str]:
        return [i.media.id for i in self.state.upcoming()]


def test_three_buyers_round_robin_with_mixed_tiers_and_a_cancel() -> None:
    ch = Channel(fair=True)
    for user, name in [("ann", "a1"), ("ann", "a2"), ("ann", "a3"), ("bob", "b1")]:
        ch.buy(user, name)
    assert ch.order() == ["a1", "b1", "a2", "a3"]  # bob's first before ann's second
    ch.buy("bob", "b2")
    ch.buy("cat", "c1")
    assert ch.order() == ["a1", "b1", "c1", "a2", "b2", "a3"]
    ch.buy("bob", "p1", tier="playnext")  # playnext keeps its meaning: right after now playing
    assert ch.order() == ["p1", "a1", "b1", "c1", "a2", "b2", "a3"]
    ch.buy("cat", "c2")  # cat's second: after every second, before ann's third
    assert ch.order() == ["p1", "a1", "b1", "c1", "a2", "b2", "c2", "a3"]
    ch.cancel("b1")  # a cancel in the middle: bob has one queue item waiting (b2)
    assert ch.order() == ["p1", "a1", "c1", "a2", "b2", "c2", "a3"]
    ch.buy("bob", "b3")  # bob's next is his second round: after c2, before ann's third
    assert ch.order() == ["p1", "a1", "c1", "a2", "b2", "c2", "b3", "a3"]
    ch.buy("dan", "d1")  # a newcomer's first: after the last first-rounder (c1)
    assert ch.order() == ["p1", "a1", "c1", "d1", "a2", "b2", "c2", "b3", "a3"]


def test_the_same_purchases_without_fair_order_are_first_come_first_served() -> None:
    ch = Channel(fair=False)
    for user, name in [("ann", "a1"), ("ann", "a2"), ("bob", "b1"), ("cat", "c1")]:
        ch.buy(user, name)
    assert ch.order() == ["a1", "a2", "b1", "c1"]


def test_the_log_says_which_order_placed_each_item() -> None:
    """A replay sees the order rule as a fact in the queue's log, before the slots it chose."""
    ch = Channel(fair=False)
    ch.buy("ann", "a1")
    ch.buy("ann", "a2")
    ch.run(SetQueueOrder(True, "admin"))
    ch.buy("bob", "b1")
    kinds = [
        type(e).__name__ for e in ch.history if isinstance(e, (QueueOrderSet, PayItemSlotChosen))
    ]
    assert kinds == ["PayItemSlotChosen", "PayItemSlotChosen", "QueueOrderSet", "PayItemSlotChosen"]
    assert ch.order() == ["a1", "b1", "a2"]
    ch.run(SetQueueOrder(True, "admin"))  # the same order again: nothing new in the log
    assert sum(isinstance(e, QueueOrderSet) for e in ch.history) == 1
