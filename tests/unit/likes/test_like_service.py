"""The like service over the in-memory log and a virtual clock we drive: who may like, what is
recorded, the rate limit and dedupe window as the handler's clock moves, the projection's live
count and the queue page's frame that shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from adapters.log.memory_store import InMemoryEventStore
from application.identity.roles import Forbidden, Identity
from application.likes.projection import LikesProjection
from application.likes.queries import LikesQueries
from application.likes.rules import LikeRulesService
from application.likes.service import LikeService
from application.log.command_handler import CommandHandler
from application.log.streams import likes_stream
from domain.errors import Rejected
from domain.likes.model import Liked, LikeRefused, LikeRules, Playing
from domain.media import Media
from tests.unit.queue.test_live_queues import Shadow, state, world

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
SONG = Media("yt", "abc", "A song", 240)
OTHER = Media("yt", "xyz", "Another", 180)
ALICE = Identity("alice", "viewer")


class DrivenClock:
    """The Clock port, moved only by the test."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)


class Playlist:
    """The NowPlaying port: whatever the test says plays."""

    def __init__(self) -> None:
        self.now: Playing | None = Playing("q1", SONG, START)

    async def playing(self, channel: str) -> Playing | None:
        return self.now


class World:
    def __init__(self, rules: LikeRules) -> None:
        self.store = InMemoryEventStore()
        self.clock = DrivenClock(START)
        self.playlist = Playlist()
        handler = CommandHandler(self.store, self.clock)
        self.service = LikeService(
            handler, self.playlist, LikeRulesService(handler, rules), "lobby"
        )
        self.projection = LikesProjection()

    async def liked(self, user: str) -> list[Liked]:
        stream = likes_stream("lobby", user)
        return [e for c in await self.store.read_stream(stream) for e in c.commit.events]

    async def fold(self) -> None:
        self.projection.forget()
        async for stored in self.store.read_all():
            self.projection.apply(stored)


async def test_a_like_is_recorded_at_the_handlers_clock_time() -> None:
    w = World(LikeRules())
    w.clock.advance(42)
    receipt = await w.service.like(ALICE, "q1")
    assert (receipt.item_id, receipt.media_id, receipt.user) == ("q1", "abc", "alice")
    assert receipt.liked_at == START + timedelta(seconds=42)
    (event,) = await w.liked("alice")
    assert event.at == START + timedelta(seconds=42) and event.media == SONG


async def test_one_users_names_in_any_case_share_one_stream() -> None:
    w = World(LikeRules())
    await w.service.like(Identity("Alice", "viewer"))
    with pytest.raises(Rejected) as refused:
        await w.service.like(ALICE)
    assert refused.value.code == "already_liked"


async def test_nothing_playing_and_something_else_playing_append_nothing() -> None:
    w = World(LikeRules())
    w.playlist.now = None
    with pytest.raises(Rejected) as refused:
        await w.service.like(ALICE)
    assert refused.value.code == "nothing_playing"
    w.playlist.now = Playing("q2", OTHER, START)
    with pytest.raises(Rejected) as refused:
        await w.service.like(ALICE, "q1")
    assert refused.value.code == "not_playing"
    assert await w.liked("alice") == [] and await w.store.head() == 0


async def test_the_dedupe_window_follows_the_clock() -> None:
    w = World(LikeRules(rate_limit=10, rate_window_sec=60, dedupe_window_sec=300))
    await w.service.like(ALICE)
    w.clock.advance(299)
    with pytest.raises(LikeRefused) as refused:
        await w.service.like(ALICE)
    assert refused.value.retry_after_sec == pytest.approx(1.0)
    w.clock.advance(1)
    await w.service.like(ALICE)
    assert len(await w.liked("alice")) == 2


async def test_a_flood_is_held_to_the_rate_limit_and_each_user_has_their_own() -> None:
    w = World(LikeRules(rate_limit=3, rate_window_sec=60, dedupe_window_sec=0))
    outcomes = []
    for _ in range(10):  # ten likes in ten seconds
        try:
            await w.service.like(ALICE)
            outcomes.append("ok")
        except LikeRefused as exc:
            outcomes.append(exc.code)
        w.clock.advance(1)
    assert outcomes == ["ok"] * 3 + ["like_rate_limited"] * 7
    await w.service.like(Identity("bob", "viewer"))  # bob's limit is his own
    w.clock.advance(50)  # 60 s after alice's first like: one more counts, not two
    await w.service.like(ALICE)
    with pytest.raises(LikeRefused):
        await w.service.like(ALICE)
    assert len(await w.liked("alice")) == 4


async def test_rules_out_of_range_are_refused_when_wired() -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        handler = CommandHandler(InMemoryEventStore(), DrivenClock(START))
        LikeService(
            handler, Playlist(), LikeRulesService(handler, LikeRules(rate_limit=0)), "lobby"
        )


async def test_aggregates_need_a_blessed_user_or_an_admin() -> None:
    w = World(LikeRules())
    queries = LikesQueries(None, w.clock, w.projection, w.playlist)  # type: ignore[arg-type]
    for call in (
        queries.top_liked(ALICE, "lobby"),
        queries.item(ALICE, "lobby", "q1"),
        queries.media(ALICE, "lobby", "yt", "abc"),
        queries.over_time(ALICE, "lobby", None, None),
    ):
        with pytest.raises(Forbidden) as refused:
            await call
        assert refused.value.code == "insufficient_role"
    now = await queries.now("lobby")  # what plays and its count: for everyone
    assert (now.item_id, now.likes) == ("q1", 0)


async def test_the_count_shows_on_the_queue_pages_frame() -> None:
    w = World(LikeRules(dedupe_window_sec=0))
    for user in ("alice", "bob", "carol"):
        await w.service.like(Identity(user, "viewer"))
    await w.fold()
    assert w.projection.count("lobby", "q1") == 3
    assert w.projection.count("lobby", "q2") == 0
    writes, touched = w.projection.flush()
    assert touched == {"lobby"} and len(writes) == 3

    live, shadow, _ = world("A", "B")
    assert isinstance(shadow, Shadow)
    live._queries.count_likes_with(w.projection.count)  # what wiring.likes does
    watcher = await live.watch("lobby")
    assert json.loads(await watcher.next() or "")["now_playing"]["likes"] == 3
    await w.service.like(Identity("dave", "viewer"))
    await w.fold()
    await live.refresh("lobby")
    assert json.loads(await watcher.next() or "")["now_playing"]["likes"] == 4
    after = attrs.evolve(state("A", "B"), now_playing="q2", now_playing_uid=2)
    shadow.fold("lobby", after, 2)  # the next item plays: its own count
    await live.changed({"lobby"}, 2)
    frame = json.loads(await watcher.next() or "")
    assert frame["now_playing"]["item"]["title"] == "B" and frame["now_playing"]["likes"] == 0
