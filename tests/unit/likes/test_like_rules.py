"""The like rules as an aggregate: the config's until the first change, each change an event,
the same rules again no event, and each setting refused just outside its range, named."""

from __future__ import annotations

import asyncio

import pytest

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from application.identity.roles import Forbidden, Identity
from application.likes.rules import LikeRulesService
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import like_rules_stream
from application.log.tail import LogTail
from domain.decider import Context
from domain.errors import Rejected
from domain.likes.model import MAX_RATE_LIMIT, MAX_WINDOW_SEC, LikeRules
from domain.likes.rules import LikeRulesChanged, SetLikeRules, like_rules_decider
from tests.unit.scenario import NOW

CTX = Context(now=NOW)
CONFIG = LikeRules(5, 60, 86_400)


def test_the_config_applies_until_the_first_change_then_the_change() -> None:
    state = like_rules_decider.initial("lobby")
    assert state.effective(CONFIG) == CONFIG
    tight = LikeRules(1, 10, 0)
    events = like_rules_decider.decide(state, SetLikeRules(tight, "boss"), CTX)
    assert events == (LikeRulesChanged(tight, "boss"),)
    state = like_rules_decider.fold("lobby", list(events))
    assert state.effective(CONFIG) == tight
    assert like_rules_decider.decide(state, SetLikeRules(tight, "boss"), CTX) == ()
    # Setting the config's own values is still a change: the log then says so.
    assert like_rules_decider.decide(state, SetLikeRules(CONFIG, "boss"), CTX) != ()


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        (LikeRules(0, 60, 0), "rate_limit"),
        (LikeRules(MAX_RATE_LIMIT + 1, 60, 0), "rate_limit"),
        (LikeRules(5, 0, 0), "rate_window_seconds"),
        (LikeRules(5, MAX_WINDOW_SEC + 1, 0), "rate_window_seconds"),
        (LikeRules(5, 60, -1), "dedupe_window_seconds"),
        (LikeRules(5, 60, MAX_WINDOW_SEC + 1), "dedupe_window_seconds"),
    ],
)
def test_a_setting_out_of_range_is_refused_by_name(rules: LikeRules, field: str) -> None:
    with pytest.raises(Rejected) as info:
        like_rules_decider.decide(
            like_rules_decider.initial("lobby"), SetLikeRules(rules, "b"), CTX
        )
    assert info.value.code == "invalid_config" and info.value.extra["field"] == field


@pytest.mark.parametrize(
    "rules",
    [LikeRules(1, 1, 0), LikeRules(MAX_RATE_LIMIT, MAX_WINDOW_SEC, MAX_WINDOW_SEC)],
)
def test_the_edges_of_each_range_are_allowed(rules: LikeRules) -> None:
    state = like_rules_decider.initial("lobby")
    assert like_rules_decider.decide(state, SetLikeRules(rules, "b"), CTX)


async def test_the_service_following_the_tail_sees_a_change_at_once_and_another_writers() -> None:
    """Wired, the service folds the changes from the shared tail: its own change is in effect
    when set_rules returns, another instance's once the tail brings it; before it follows (or
    before the fold reached the head) it reads the log."""
    store = InMemoryEventStore()
    clock = VirtualClock(NOW)
    tail = LogTail(store)
    here = CommandHandler(tail, clock)  # this instance writes and follows through its tail
    elsewhere = CommandHandler(store, clock)  # another instance, writing straight to the log
    early = LikeRules(4, 30, 0)
    await elsewhere.handle(
        like_rules_decider, like_rules_stream("lobby"), SetLikeRules(early, "a"), CommandMeta.new()
    )
    service = LikeRulesService(here, CONFIG)
    assert await service.effective("lobby") == early  # not following: read from the log
    follow = asyncio.create_task(service.run(tail))
    try:
        for _ in range(500):
            if service.from_memory:
                break
            await asyncio.sleep(0.01)
        assert service.from_memory
        assert await service.effective("lobby") == early
        assert await service.effective("other") == CONFIG  # never changed: the config's
        mine = LikeRules(2, 60, 10)
        await service.set_rules("lobby", Identity("boss", "admin"), mine)
        assert await service.effective("lobby") == mine  # at once, on this instance
        theirs = LikeRules(9, 60, 0)
        await elsewhere.handle(
            like_rules_decider,
            like_rules_stream("lobby"),
            SetLikeRules(theirs, "b"),
            CommandMeta.new(),
        )
        for _ in range(500):  # the tail brings it: wait for it
            if await service.effective("lobby") == theirs:
                break
            await asyncio.sleep(0.01)
        assert await service.effective("lobby") == theirs
        with pytest.raises(Forbidden):
            await service.set_rules("lobby", Identity("vic", "viewer"), mine)
    finally:
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
    assert not service.from_memory  # stopped: reads the log again
    assert await service.effective("lobby") == theirs
