"""Stats over a real SQLite file, from a history made by the real domain: purchases through the
local ledger and the pay flow, an admin cancel and its refund, a declined purchase, promos from
the director, and an hour of playback in the simulator, then compared with a count done by hand
over the events read back from the log."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from adapters.sql.tables import metadata
from application.cytube.observing import Observer
from application.cytube.pacing import AddPacer
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import StoredCommit
from application.log.streams import promo_config_stream, queue_stream, rule_refusals_stream
from application.projections.runner import ProjectionRunner
from application.promos.director import PromoDirector
from application.stats.projection import StatsProjection
from application.stats.queries import StatsQueries, TopItem, ViewersSpend
from domain.media import Media
from domain.promos.config import GeneralCadence, PromoConfig, SetPromoConfig, promo_config_decider
from domain.queue.commands import (
    ObservedItem,
    ObserveItemQueued,
    ObserveNowPlaying,
    ObservePlaylist,
)
from domain.queue.decider import queue_decider
from domain.queue.events import ItemAdded, NowPlayingChanged
from domain.queue.pay_model import (
    CancelPayItem,
    PayItemAttached,
    PayItemCancelled,
    PayItemPlaying,
    PayItemRefunded,
    PayItemRequested,
    PaymentCaptured,
    PaymentDeclined,
    PaymentToppedUp,
    RecordPaymentCaptured,
    RequestPayItem,
    StartPayItemAdd,
)
from domain.queue.promo_model import PromoChosen, PromoPlaying
from domain.queue.state import QueueItem, QueueState, evolve, initial
from domain.rules.config import RecordRuleRefusal, RequestRefusedByRule, refusal_decider
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.integration.pay.pay_world import START, PayWorld

POOLS = {
    "channel_identity": (Media("yt", "ident0", "Ident A", 8), Media("yt", "ident1", "Ident B", 8)),
    "event": (Media("yt", "event0", "Event A", 10),),
    "mod_shoutout": (Media("yt", "shout0", "Shout A", 9),),
    "feature_presentation": (Media("yt", "fp0", "Feature", 6),),
    "viewers_choice": (Media("yt", "vc0", "Viewer's Choice", 5), Media("yt", "vc1", "VC B", 5)),
}
PAID = [Media("yt", f"paid{i}", f"Paid {i}", 300) for i in range(6)]
STATS_TABLES = StatsProjection.tables


class StatsWorld(PayWorld):
    """PayWorld plus the promo director, so promos are chosen, added and played for real."""

    def __init__(self) -> None:
        super().__init__(speed=300.0)
        self._director_task: asyncio.Task[None] | None = None

    async def pools(self, channel: str) -> dict[str, tuple[Media, ...]]:
        return dict(POOLS)

    def start_director(self) -> None:
        director = PromoDirector(
            self.handler,
            self.store,
            self.cytube,
            self.observer,
            self.clock,
            self.pools,  # type: ignore[arg-type]
            channels=["lobby"],
            pacer=AddPacer(self.clock, 0.5),
            confirm_timeout_sec=5,
            rng=random.Random(7),
        )
        self._director_task = asyncio.create_task(director.run())

    async def stop_director(self) -> None:
        if self._director_task is not None:
            self._director_task.cancel()
            await asyncio.gather(self._director_task, return_exceptions=True)

    async def admin(self, command: Any) -> None:
        await self.handler.handle(
            queue_decider, queue_stream("lobby"), command, CommandMeta.new("admin")
        )

    async def play_for(self, seconds: float) -> None:
        """Let CyTube play on its own for `seconds` of channel time."""
        playback = asyncio.create_task(self.sim.run())
        try:
            self.clock.set_speed(2000)
            target = self.clock.now() + timedelta(seconds=seconds)
            while self.clock.now() < target:  # noqa: ASYNC110 (virtual time)
                await asyncio.sleep(0.05)
        finally:
            self.clock.set_speed(300)
            playback.cancel()
            await asyncio.gather(playback, return_exceptions=True)


# ---- the count by hand ---------------------------------------------------------------------


@dataclass
class Play:
    position: int
    seq: int
    played_at: datetime
    item_id: str
    media: Media
    kind: str

    def row(self) -> tuple[Any, ...]:
        """As `PLAY_FIELDS` of a `stats_plays` row."""
        m = self.media
        return (
            self.position,
            self.seq,
            self.played_at,
            self.item_id,
            m.type,
            m.id,
            m.title,
            m.duration_sec,
            self.kind,
        )


PLAY_FIELDS = (
    "position",
    "seq",
    "played_at",
    "item_id",
    "media_type",
    "media_id",
    "title",
    "duration_sec",
    "kind",
)


@dataclass
class Expected:
    counts: dict[str, Any] = field(default_factory=dict)
    plays: list[Play] = field(default_factory=list)
    channel_position: int = 0
    #: Per viewer: (user, purchases, declined, played, refunded, captured, refunded coins,
    #: spent), most spent first, then most purchases, then by name.
    viewers: list[tuple[Any, ...]] = field(default_factory=list)


def count_by_hand(commits: list[StoredCommit], channel: str) -> Expected:
    """Fold the queue's events with the domain's own `evolve` (so an item's kind is whatever the
    queue says it is after the commit), and count each fact the way the stats promise to."""
    state: QueueState = initial(channel)
    promo_types: dict[str, str] = {}
    queued = queued_sec = captured = 0
    tiers: Counter[str] = Counter()
    refunds: Counter[str] = Counter()
    cancels: Counter[str] = Counter()
    promo_plays: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    buyer: dict[str, str] = {}  # every purchase's buyer, never forgotten
    per_viewer: dict[str, Counter[str]] = {}
    out = Expected()
    for stored in commits:
        commit = stored.commit
        if commit.stream.aggregate == "rule_refusals" and commit.stream.channel == channel:
            refused.update(e.code for e in commit.events if isinstance(e, RequestRefusedByRule))
        if commit.stream.aggregate != "queue" or commit.stream.channel != channel:
            continue
        out.channel_position = stored.position
        started: list[tuple[int, QueueItem]] = []
        for seq, event in enumerate(commit.events):
            if isinstance(event, NowPlayingChanged) and event.item_id is not None:
                item = state.by_id(event.item_id)
                if item is not None:
                    started.append((seq, item))
            elif isinstance(event, ItemAdded):
                queued += 1
                queued_sec += event.media.duration_sec
            elif isinstance(event, PayItemRequested):
                tiers[event.tier] += 1
                buyer[event.request_id] = event.user
                per_viewer.setdefault(event.user, Counter())["purchases"] += 1
            elif isinstance(event, PaymentCaptured):
                captured += event.cost
                per_viewer[buyer[event.request_id]]["captured"] += event.cost
            elif isinstance(event, PaymentToppedUp):
                captured += event.amount
                per_viewer[buyer[event.request_id]]["captured"] += event.amount
            elif isinstance(event, PaymentDeclined):
                per_viewer[buyer[event.request_id]]["declined"] += 1
            elif isinstance(event, PayItemPlaying):
                per_viewer[buyer[event.request_id]]["played"] += 1
            elif isinstance(event, PayItemRefunded):
                refunds[event.reason] += event.amount
                per_viewer[buyer[event.request_id]]["refunded"] += 1
                per_viewer[buyer[event.request_id]]["refunded_coins"] += event.amount
            elif isinstance(event, PayItemCancelled):
                cancels[event.reason] += 1
            elif isinstance(event, PromoChosen):
                promo_types[event.promo_id] = event.promo_type
            elif isinstance(event, PromoPlaying):
                promo_plays[promo_types[event.promo_id]] += 1
            state = evolve(state, event)
        for seq, item in started:
            after = state.by_id(item.item_id) or item
            out.plays.append(
                Play(stored.position, seq, commit.at, item.item_id, item.media, after.kind)
            )
    by_kind: Counter[str] = Counter()
    sec_by_kind: Counter[str] = Counter()
    for play in out.plays:
        by_kind[play.kind] += 1
        sec_by_kind[play.kind] += play.media.duration_sec
    refunded = sum(refunds.values())
    fields = ("purchases", "declined", "played", "refunded", "captured", "refunded_coins")
    out.viewers = [
        (user, *(c[f] for f in fields), c["captured"] - c["refunded_coins"])
        for user, c in per_viewer.items()
    ]
    out.viewers.sort(key=lambda v: (-v[-1], -v[1], v[0]))
    out.counts = {
        "items_queued": queued,
        "queued_duration_sec": queued_sec,
        "items_played": len(out.plays),
        "played_duration_sec": sum(p.media.duration_sec for p in out.plays),
        "plays_by_kind": dict(by_kind),
        "played_duration_by_kind": dict(sec_by_kind),
        "paid_by_tier": dict(tiers),
        "captured": captured,
        "refunded_total": refunded,
        "refunded_by_reason": dict(refunds),
        "net": captured - refunded,
        "promo_plays_by_type": dict(promo_plays),
        "cancellations_by_reason": dict(cancels),
        "refusals_by_rule": dict(refused),
    }
    return out


def top_by_hand(
    plays: list[Play], since: datetime | None, until: datetime | None
) -> list[tuple[str, str, str, int, datetime]]:
    found: dict[tuple[str, str], list[Any]] = {}
    for play in plays:
        if (since and play.played_at < since) or (until and play.played_at >= until):
            continue
        entry = found.setdefault(play.media.key, [play.media.title, 0, play.played_at])
        entry[1] += 1
        if play.played_at >= entry[2]:
            entry[0], entry[2] = play.media.title, play.played_at
    rows = [(t, i, title, n, last) for (t, i), (title, n, last) in found.items()]
    rows.sort(key=lambda r: (r[0], r[1]))
    rows.sort(key=lambda r: (r[3], r[4]), reverse=True)
    return rows


def viewer_tuples(spend: ViewersSpend) -> list[tuple[Any, ...]]:
    return [
        (
            v.user,
            v.purchases,
            v.declined,
            v.played,
            v.refunded,
            v.captured,
            v.refunded_coins,
            v.spent,
        )
        for v in spend.viewers
    ]


def as_tuples(items: list[TopItem]) -> list[tuple[str, str, str, int, datetime]]:
    return [(i.media_type, i.media_id, i.title, i.plays, i.last_played) for i in items]


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def pstore(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SqlProjectionStore]:
    if request.param == "sqlite":
        store = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
        await store.prepare()
        yield store
        await store.close()
        return
    async with postgres_schema() as schema:
        store = SqlProjectionStore(
            POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}}
        )
        await store.prepare()
        yield store
        await store.close()


@pytest.fixture
async def world() -> AsyncIterator[StatsWorld]:
    w = StatsWorld()
    for n, minutes in enumerate([3, 4, 5, 3, 6, 2]):
        await w.sim.add(Media("yt", f"c{n}", f"Content {n}", minutes * 60))
    for user in ("ann", "bob"):
        await w.ledger.grant("lobby", user, 10_000, "admin")
    await w.handler.handle(
        promo_config_decider,
        promo_config_stream("lobby"),
        SetPromoConfig(PromoConfig(general=GeneralCadence(every_n_items=2)), "admin"),
        CommandMeta.new("admin"),
    )
    w.start_flow()
    w.start_director()
    yield w
    await w.stop_director()
    await w.stop_flow()


async def refuse(w: StatsWorld, user: str, code: str) -> None:
    """A purchase a request rule refused, as the rules service records it."""
    await w.handler.handle(
        refusal_decider,
        rule_refusals_stream("lobby"),
        RecordRuleRefusal(user, "yt", "refused", code),
        CommandMeta.new(user),
    )


async def make_history_part_one(w: StatsWorld) -> None:
    """Purchases in both tiers, one declined, one cancelled by an admin (and so refunded)."""
    r1, _ = await w.request("ann", PAID[1], "queue")
    r2, _ = await w.request("bob", PAID[2], "playnext")
    await w.settled(r1, r2)
    r3, _ = await w.request("ann", PAID[3], "queue")
    declined, _ = await w.request("pauper", PAID[4], "playnext")
    await w.settled(r3, declined)
    await w.admin(CancelPayItem(r3, "admin_remove", "admin"))
    await w.until(lambda s: s.pay_item(r3).finished, "the admin cancel refunded")  # type: ignore[union-attr]
    await refuse(w, "ann", "rule_max_pending")
    await refuse(w, "bob", "rule_cooldown")
    # A Viewer's Choice waits in front of a paid item: a promo the fold must remember.
    await w.until(
        lambda s: any(p.promo_type == "viewers_choice" and p.active for p in s.promos),
        "a Viewer's Choice lead-in",
    )


async def make_history_part_two(w: StatsWorld) -> None:
    """Skips, a jump to a paid item, then an hour of playback with promos between items."""
    await refuse(w, "bob", "rule_max_pending")  # after the restart: counted on from the rows
    for _ in range(3):
        await w.sim.skip()
        await asyncio.sleep(0.05)
    r5, _ = await w.request("bob", PAID[5], "queue")
    await w.settled(r5)
    paid = next(i for i in w.sim.playlist() if i.media.id == PAID[5].id)
    await w.sim.jump(paid.uid)
    await asyncio.sleep(0.1)
    await w.play_for(3600)
    await w.stop_director()
    await w.stop_flow()


async def other_channel(w: StatsWorld) -> None:
    """A second channel, reported directly: its stats must stay apart from the lobby's."""
    for uid in (1, 2):
        media = Media("vm", f"o{uid}", f"Other {uid}", 100 * uid)
        await w.observer.observe("other", ObserveItemQueued(uid, media, after=uid - 1 or "prepend"))
    await w.observer.observe("other", ObserveNowPlaying(2))
    await w.observer.observe("other", ObserveNowPlaying(1))


async def all_rows(pstore: SqlProjectionStore) -> dict[str, list[dict[str, Any]]]:
    rows = {}
    for table in STATS_TABLES:
        key = tuple(c.name for c in metadata.tables[table].primary_key.columns)
        rows[table] = await pstore.fetch(table, order_by=key)
    return rows


def summary_counts(stats: Any) -> dict[str, Any]:
    body = msgspec.structs.asdict(stats)
    for name in ("channel", "position", "channel_position", "generated_at"):
        body.pop(name)
    return body


# ---- the test ------------------------------------------------------------------------------


async def test_stats_equal_a_count_by_hand_across_restart_and_rebuild(
    world: StatsWorld, pstore: SqlProjectionStore
) -> None:
    # Part one, projected by a first runner; it then "stops".
    await make_history_part_one(world)
    first = ProjectionRunner(world.store, pstore, StatsProjection(), batch_size=7)
    await first.start()
    await first.catch_up()
    cut = first.position
    rows_at_cut = await all_rows(pstore)
    assert rows_at_cut["stats_items"], "items on the playlist at the restart"
    assert rows_at_cut["stats_promos"], "a promo chosen, not yet played, at the restart"

    # Part two, folded by a new process: a new projection that knows only its rows.
    await make_history_part_two(world)
    await other_channel(world)
    second = ProjectionRunner(world.store, pstore, StatsProjection(), batch_size=7)
    await second.start()
    assert second.position == cut
    assert await second.catch_up() == await world.store.head() - cut
    # Totals are written as increments: nothing that grows with the log stays in memory.
    held = second.projection
    assert isinstance(held, StatsProjection)
    assert not held._counters and not held._media

    commits = [c async for c in world.store.read_all()]
    lobby = count_by_hand(commits, "lobby")
    other = count_by_hand(commits, "other")

    # The history is as rich as the test needs, or the comparison below proves little.
    counts = lobby.counts
    assert {"content", "pay", "promo"} <= set(counts["plays_by_kind"])
    assert set(counts["paid_by_tier"]) == {"queue", "playnext"}
    assert counts["cancellations_by_reason"].get("admin_remove") == 1
    assert counts["refusals_by_rule"] == {"rule_max_pending": 2, "rule_cooldown": 1}
    assert counts["refunded_total"] > 0 and counts["net"] > 0
    assert counts["promo_plays_by_type"].get("viewers_choice", 0) >= 1
    assert len(counts["promo_plays_by_type"]) >= 2
    # Per viewer: ann had one refunded, bob's purchases played, pauper was declined.
    by_user = {v[0]: v for v in lobby.viewers}
    assert set(by_user) == {"ann", "bob", "pauper"}
    assert by_user["ann"][4] == 1 and by_user["ann"][6] > 0  # refunded, coins back
    assert by_user["bob"][3] == 2  # both of bob's purchases played
    assert by_user["pauper"][1:4] == (1, 1, 0) and by_user["pauper"][7] == 0
    # Bought before the restart, played after it: the buyer came back from the rows.
    assert rows_at_cut["stats_purchases"], "purchases still open at the restart"

    queries = StatsQueries(pstore, world.clock)
    head = await world.store.head()
    for channel, expected in (("lobby", lobby), ("other", other)):
        stats = await queries.summary(channel)
        assert summary_counts(stats) == expected.counts, channel
        assert stats.position == head
        assert stats.channel_position == expected.channel_position
        spend = await queries.viewers(channel)
        assert viewer_tuples(spend) == expected.viewers, channel
        assert spend.position == head
    assert other.counts["items_played"] == 2 and other.counts["plays_by_kind"] == {"content": 2}
    assert other.viewers == [] and (await queries.viewers("nowhere")).viewers == []
    # Nothing open is forgotten and nothing over is kept: the buyers held are those of the
    # purchases the queue says can still move money or play.
    state: QueueState = initial("lobby")
    for stored in commits:
        if stored.commit.stream == queue_stream("lobby"):
            for event in stored.commit.events:
                state = evolve(state, event)
    open_rows = await pstore.fetch("stats_purchases", {"channel": "lobby"})
    assert {r["request_id"] for r in open_rows} == {
        p.request_id
        for p in state.pay
        if p.payment not in ("declined", "void", "refunded", "refund_refused")
        and p.placement != "played"
    }

    # The play log, row for row.
    logged = await pstore.fetch("stats_plays", {"channel": "lobby"}, order_by=("position", "seq"))
    assert [tuple(r[f] for f in PLAY_FIELDS) for r in logged] == [p.row() for p in lobby.plays]

    # Top played: all time (per-media rows), and windows read from the play log.
    assert as_tuples(await queries.top_played("lobby", limit=100)) == top_by_hand(
        lobby.plays, None, None
    )
    times = sorted(p.played_at for p in lobby.plays)
    since, until = times[len(times) // 3], times[2 * len(times) // 3]
    windowed = top_by_hand(lobby.plays, since, until)
    assert windowed and windowed != top_by_hand(lobby.plays, None, None)
    assert as_tuples(await queries.top_played("lobby", since, until, 100)) == windowed
    assert as_tuples(await queries.top_played("lobby", since, until, 2)) == windowed[:2]
    assert as_tuples(await queries.top_played("lobby", since=until)) == top_by_hand(
        lobby.plays, until, None
    )
    assert as_tuples(await queries.top_played("lobby", until=since)) == top_by_hand(
        lobby.plays, None, since
    )
    start, end = queries.window(None, None, "20m")
    assert end is not None and start == end - timedelta(minutes=20)
    assert as_tuples(await queries.top_played("lobby", start, end, 100)) == top_by_hand(
        lobby.plays, start, end
    )
    assert await queries.top_played("nowhere", since, until) == []

    # Rebuild from the log: the same rows as the restarted, incrementally built projection.
    before = await all_rows(pstore)
    await ProjectionRunner(world.store, pstore, StatsProjection(), batch_size=500).rebuild()
    assert await all_rows(pstore) == before


async def test_a_play_counts_with_the_kind_its_commit_leaves_the_item(
    pstore: SqlProjectionStore,
) -> None:
    """A lost add observation, then a snapshot (a robot reconnecting) shows the paid media
    already playing: one decision adds the item, starts it, and only then attaches it to its
    purchase. That play is a paid play. Then the lone item loops (a play again), and CyTube plays
    something we do not hold (not a play)."""
    store = InMemoryEventStore()
    clock = VirtualClock(START, monotonic=lambda: 0.0)
    handler = CommandHandler(store, clock)
    observer = Observer(handler)
    a, b, paid = Media("yt", "a", "A", 60), Media("yt", "b", "B", 60), Media("yt", "p", "P", 120)
    await observer.observe("lobby", ObserveItemQueued(1, a, after="prepend"))
    await observer.observe("lobby", ObserveItemQueued(2, b, after=1))
    await observer.observe("lobby", ObserveNowPlaying(1))
    for command in (
        RequestPayItem("r1", "ann", paid, "playnext"),
        RecordPaymentCaptured("r1", 100),
        StartPayItemAdd("r1"),
    ):
        await handler.handle(queue_decider, queue_stream("lobby"), command, CommandMeta.new())
    snapshot = (ObservedItem(1, a), ObservedItem(2, b), ObservedItem(3, paid, temp=True))
    await observer.observe("lobby", ObservePlaylist(snapshot, current_uid=3))
    last = [c async for c in store.read_all()][-1].commit.events
    assert [type(e).__name__ for e in last][:2] == ["ItemAdded", "NowPlayingChanged"]
    assert any(isinstance(e, PayItemAttached) for e in last)
    clock.advance(125)
    await observer.observe("lobby", ObserveNowPlaying(3))  # played its length: it loops
    await observer.observe("lobby", ObserveNowPlaying(99))  # not ours (yet)

    runner = ProjectionRunner(store, pstore, StatsProjection())
    await runner.start()
    await runner.catch_up()
    stats = await StatsQueries(pstore, clock).summary("lobby")
    assert (
        summary_counts(stats) == count_by_hand([c async for c in store.read_all()], "lobby").counts
    )
    assert stats.plays_by_kind == {"content": 1, "pay": 2}
    assert stats.played_duration_by_kind == {"content": 60, "pay": 240}
    assert (stats.items_queued, stats.items_played, stats.captured) == (3, 3, 100)
    top = await StatsQueries(pstore, clock).top_played("lobby")
    assert [(t.media_id, t.plays, t.last_played) for t in top] == [
        ("p", 2, START + timedelta(seconds=125)),
        ("a", 1, START),
    ]


async def test_an_unknown_channel_has_empty_stats(pstore: SqlProjectionStore) -> None:
    stats = await StatsQueries(pstore, VirtualClock(START)).summary("nowhere")
    assert summary_counts(stats) == count_by_hand([], "nowhere").counts
    assert stats.channel_position == 0 and stats.items_played == 0 and stats.plays_by_kind == {}
