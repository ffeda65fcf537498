"""The promo director's pure decisions, through the queue decider."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from domain.decider import Context
from domain.media import Media
from domain.promos.config import GeneralCadence, PromoConfig, TypeSettings
from domain.queue.commands import (
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
)
from domain.queue.decider import queue_decider
from domain.queue.pay_model import (
    CancelPayItem,
    LiftScheduleLock,
    LockQueue,
    RecordPaymentCaptured,
    RequestPayItem,
    SetScheduleLock,
    StartPayItemAdd,
)
from domain.queue.promo_decide import promo_slot
from domain.queue.promo_model import (
    DirectPromos,
    PromoAttached,
    PromoCancelled,
    PromoChosen,
    StartPromoAdd,
)
from domain.queue.promo_policy import pick_clip, pick_type
from tests.unit.scenario import NOW, Scenario

IDENT = tuple(Media("yt", f"id{i}", f"Ident {i}", 10) for i in range(3))
EVENT = tuple(Media("yt", f"ev{i}", f"Event {i}", 20) for i in range(2))
SHOUT = tuple(Media("yt", f"sh{i}", f"Shout {i}", 15) for i in range(3))
FP = (Media("yt", "fp0", "Feature Presentation", 8), Media("yt", "fp1", "FP 2", 8))
VC = (Media("yt", "vc0", "Viewer's Choice", 6), Media("yt", "vc1", "VC 2", 6))
POOLS = {
    "channel_identity": IDENT,
    "event": EVENT,
    "mod_shoutout": SHOUT,
    "feature_presentation": FP,
    "viewers_choice": VC,
}
CONFIG = PromoConfig(general=GeneralCadence(every_n_items=2, every_m_minutes=60))


class Director:
    """Drives the decider as the director process manager would, with a seeded random."""

    def __init__(self, s: Scenario, seed: int = 7) -> None:
        self.s, self.rand, self.uid = s, random.Random(seed), 100

    def direct(self, config: PromoConfig = CONFIG, pools: Any = POOLS) -> list[PromoChosen]:
        ctx = Context(now=self.s.now, random=self.rand)
        events = queue_decider.decide(self.s.state, DirectPromos(pools, config), ctx)
        self.s.given(*events)
        return [e for e in events if isinstance(e, PromoChosen)]

    def insert(self, chosen: list[PromoChosen]) -> None:
        """Add each chosen clip in CyTube (temp, at the end) and move it where it belongs."""
        for promo in chosen:
            self.uid += 1
            self.s.given_commands(ObserveItemQueued(self.uid, promo.media, temp=True))
        for chosen_promo in sorted(chosen, key=lambda p: p.role != "lead_in"):  # lead-ins first
            state = self.s.state
            promo = next(p for p in state.promos if p.promo_id == chosen_promo.promo_id)
            found, follow = promo_slot(state, promo)
            assert found and promo.item_id is not None
            item = state.by_id(promo.item_id)
            anchor = state.by_id(follow) if follow else None
            assert item is not None
            self.s.given_commands(ObserveItemMoved(item.uid, anchor.uid if anchor else "prepend"))

    def play_next(self) -> None:
        state = self.s.state
        upcoming = state.upcoming()
        self.s.now += timedelta(seconds=30)
        self.s.given_commands(ObserveNowPlaying(upcoming[0].uid))


def channel(*minutes: int) -> Scenario:
    s = Scenario(queue_decider)
    for n, length in enumerate(minutes, start=1):
        s.given_commands(ObserveItemQueued(n, Media("yt", f"c{n}", f"Content {n}", length * 60)))
    s.given_commands(ObserveNowPlaying(1))
    return s


def kinds(s: Scenario) -> list[str]:
    return [i.promo_type or i.media.id for i in s.state.upcoming()]


def test_a_general_promo_after_every_n_content_items_and_only_once_per_slot() -> None:
    s = channel(3, 3, 3, 3, 3, 3)
    d = Director(s)
    assert d.direct() == []  # 1 content item started so far
    d.play_next()
    chosen = d.direct()
    assert [(c.role, c.target_item_id) for c in chosen] == [("general", "q3")]
    assert d.direct() == [], "not again for the same slot"
    d.insert(chosen)
    assert s.state.cadence.content_since_general == 0
    assert kinds(s)[:2][1] == "c3" and kinds(s)[0] in ("channel_identity", "event", "mod_shoutout")


def test_minutes_cadence_fires_without_enough_items() -> None:
    s = channel(97, 3)
    d = Director(s)
    d.direct()  # the cadence clock starts
    s.now = NOW + timedelta(minutes=61)
    assert [c.role for c in d.direct()] == ["general"]


def test_weighted_type_choice_over_many_draws_is_close_to_the_weights() -> None:
    rand = random.Random(2026)
    weights = [("channel_identity", 3.0), ("event", 2.0), ("mod_shoutout", 1.0)]
    draws = Counter(pick_type(weights, rand) for _ in range(60_000))  # type: ignore[arg-type]
    for name, weight in weights:
        assert draws[name] / 60_000 == pytest.approx(weight / 6, abs=0.01)


def test_no_repeat_never_picks_the_same_clip_twice_in_a_row() -> None:
    rand = random.Random(1)
    last = None
    for _ in range(2000):
        _, media = pick_clip(IDENT, "random", last, 0, True, set(), rand)  # type: ignore[misc]
        assert media.key != last
        last = media.key


def test_sequential_rotates_in_stored_order_and_resumes() -> None:
    s = channel(*[3] * 12)
    d = Director(s)
    config = PromoConfig(
        general=GeneralCadence(every_n_items=1),
        types={"mod_shoutout": TypeSettings(order="sequential", weight=1)},
    )
    seen = []
    for _ in range(5):
        d.play_next()
        chosen = d.direct(config)
        seen += [c.media.id for c in chosen]
        d.insert(chosen)
        d.play_next()  # the promo plays
    assert seen == ["sh0", "sh1", "sh2", "sh0", "sh1"]


def test_an_upcoming_movie_gets_a_feature_presentation_right_before_it() -> None:
    s = channel(3, 97, 3)
    d = Director(s)
    chosen = d.direct(PromoConfig(general=GeneralCadence(every_n_items=99)))
    assert [(c.promo_type, c.target_item_id) for c in chosen] == [("feature_presentation", "q2")]
    d.insert(chosen)
    assert kinds(s)[:2] == ["feature_presentation", "c2"]
    assert s.state.items[1].lead_in_for == "q2"


def buy(s: Scenario, rid: str, media: Media, uid: int) -> None:
    s.given_commands(
        RequestPayItem(rid, "ann", media, "playnext"),
        RecordPaymentCaptured(rid, 250),
        StartPayItemAdd(rid),
        ObserveItemQueued(uid, media, temp=True, after=1),
    )
    assert s.state.pay_item(rid).placement == "positioned"  # type: ignore[union-attr]


@pytest.mark.parametrize("minutes", [4, 97], ids=["short", "movie"])
def test_a_paid_item_gets_viewers_choice_and_a_paid_movie_never_fp(minutes: int) -> None:
    s = channel(3, 3)
    buy(s, "r1", Media("yt", "paid", "Paid", minutes * 60), 50)
    d = Director(s)
    chosen = d.direct(PromoConfig(general=GeneralCadence(every_n_items=99)))
    assert [(c.promo_type, c.role) for c in chosen] == [("viewers_choice", "lead_in")]


def test_stacked_order_is_general_then_lead_in_then_content() -> None:
    s = channel(3, 3, 97)
    d = Director(s)
    d.play_next()
    chosen = d.direct()
    assert sorted(c.role for c in chosen) == ["general", "lead_in"]
    assert {c.promo_type for c in chosen if c.role == "lead_in"} == {"feature_presentation"}
    d.insert(chosen)
    assert kinds(s)[0] in ("channel_identity", "event", "mod_shoutout")
    assert kinds(s)[1:3] == ["feature_presentation", "c3"]
    positioned = [p.placement for p in s.state.promos]
    assert positioned == ["positioned", "positioned"]


def test_cancelling_a_paid_item_cancels_its_viewers_choice() -> None:
    s = channel(3, 3)
    buy(s, "r1", Media("yt", "paid", "Paid", 240), 50)
    d = Director(s)
    d.insert(d.direct(PromoConfig(general=GeneralCadence(every_n_items=99))))
    events = s.when(CancelPayItem("r1", "owner_left", "presence"))
    assert [e for e in events if isinstance(e, PromoCancelled)] == [
        PromoCancelled("p1", "target_cancelled")
    ]


def test_a_viewers_choice_that_lands_after_its_target_started_is_claimed_to_be_removed() -> None:
    """Its add was sent, the paid item started first (`target_started`), then the clip landed:
    it must not stay on the playlist as content (it blocked the next lead-in)."""
    s = channel(3, 3)
    buy(s, "r1", Media("yt", "paid", "Paid", 240), 50)
    d = Director(s)
    [chosen] = d.direct(PromoConfig(general=GeneralCadence(every_n_items=99)))
    s.given_commands(StartPromoAdd(chosen.promo_id))
    s.given_commands(ObserveNowPlaying(50))  # the paid item starts before the clip lands
    promo = next(p for p in s.state.promos if p.promo_id == chosen.promo_id)
    assert promo.placement == "cancelled"
    events = s.when(ObserveItemQueued(60, chosen.media, temp=True))
    assert PromoAttached(chosen.promo_id, "q4", 60) in events
    s.given(*events)
    promo = next(p for p in s.state.promos if p.promo_id == chosen.promo_id)
    assert (promo.placement, promo.item_id) == ("cancelled", "q4")  # the director deletes it
    clip = s.state.by_id("q4")
    assert clip is not None and clip.kind == "promo"


def test_nothing_while_the_immutable_event_lock_is_on() -> None:
    s = channel(3, 97, 3)
    s.given_commands(LockQueue("Movie marathon", None, "admin"))
    s.given_commands(ObserveNowPlaying(2), ObserveNowPlaying(3), ObserveNowPlaying(1))
    assert Director(s).direct() == []


def test_nothing_while_a_scheduled_event_lock_is_on_and_back_after_it() -> None:
    s = channel(3, 97, 3)
    end = s.now + timedelta(hours=2)
    s.given_commands(SetScheduleLock("s1", "event", "Film club", s.now, s.now, end))
    s.given_commands(ObserveNowPlaying(2), ObserveNowPlaying(3), ObserveNowPlaying(1))
    assert Director(s).direct() == []
    s.given_commands(LiftScheduleLock("last_item_began"))
    assert Director(s).direct() != []


def test_disabled_or_empty_pools_are_skipped_without_error() -> None:
    s = channel(3, 97)
    d = Director(s)
    assert d.direct(PromoConfig(enabled=False)) == []
    assert d.direct(CONFIG, pools={}) == []


def test_looping_does_not_pile_up_promos() -> None:
    s = channel(3, 3, 3)
    d = Director(s)
    for _ in range(12):  # four loops of the playlist
        d.insert(d.direct())
        d.play_next()
        for promo in [p for p in s.state.promos if p.placement == "done"]:
            if promo.item_id and s.state.by_id(promo.item_id):
                s.given_commands(ObserveItemDeleted(s.state.by_id(promo.item_id).uid))  # type: ignore[union-attr]
    on_list = [i for i in s.state.items if i.kind == "promo"]
    assert len(on_list) <= 2
    assert [i.media.id for i in s.state.items if i.kind == "content"] == ["c1", "c2", "c3"]


def test_replaying_the_log_gives_the_same_promo_history() -> None:
    s = channel(3, 3, 97, 3)
    d = Director(s, seed=99)
    for _ in range(8):
        d.insert(d.direct())
        d.play_next()
    replayed = queue_decider.fold("lobby", list(s.history))
    assert replayed == s.state
    assert [p.media.id for p in replayed.promos] == [p.media.id for p in s.state.promos]


def test_a_lead_in_that_is_playing_still_fronts_its_target() -> None:
    s = channel(3, 3, 97)
    d = Director(s)
    d.play_next()
    d.insert(d.direct(PromoConfig(general=GeneralCadence(every_n_items=99))))
    d.play_next()  # the Feature Presentation lead-in plays; the movie is next
    assert s.state.current is not None and s.state.current.promo_type == "feature_presentation"
    assert d.direct(PromoConfig(general=GeneralCadence(every_n_items=99))) == []


def test_nothing_is_chosen_between_a_finished_lead_in_and_the_next_item() -> None:
    """CyTube deletes a temp item that played before it names the next one."""
    s = channel(3, 3)
    buy(s, "r1", Media("yt", "paid", "Paid", 240), 50)
    d = Director(s)
    d.insert(d.direct(PromoConfig(general=GeneralCadence(every_n_items=99))))
    lead_in = next(i for i in s.state.items if i.promo_type == "viewers_choice")
    s.given_commands(ObserveNowPlaying(lead_in.uid))
    s.now += timedelta(seconds=lead_in.media.duration_sec + 5)
    s.given_commands(ObserveItemDeleted(lead_in.uid))  # played out; setCurrent not yet seen
    assert s.state.now_playing is None
    assert d.direct(PromoConfig(general=GeneralCadence(every_n_items=99))) == []
