"""Rebuild benchmark: how fast every projection replays a big log, against what the client
library can read at all.

1. Generates a log of `--events` events (default 1,000,000) across `--channels` channels (20) in
   a fresh JetStream (an embedded nats-server in a temp dir). Every commit is decided by the
   domain's own deciders from a simulated channel's observations and requests (queue adds, plays,
   deletes and moves; pay lifecycles with wallet debits, cancels and refunds; presence; promo
   direction and insertion; saved playlists; promo settings), so everything folds cleanly.
   Generation runs in a child process and publishes with `publish_async` batching.
2. Measures the raw read rate: nats-py reading the whole stream and msgspec-decoding every
   message with nothing else, with the consumer our store uses (pull, fetch of 1000) and with
   the fastest reader found (see `raw_read_fastest`).
3. Rebuilds every projection of `entrypoints.bootstrap.projections()` through ProjectionRunner
   into SQLite (and PostgreSQL with `--pg URL`), sampling RSS as it goes.

Prints a table and writes JSON to bench/results/rebuild.json.

    python bench/bench_rebuild.py                  # 1,000,000 events
    python bench/bench_rebuild.py --events 50000   # a quick run
    python bench/bench_rebuild.py --pg postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python bench/bench_rebuild.py --events 100000 --store /tmp/wq-100k   # reuse the log next time
    python bench/bench_rebuild.py --events 100000 --store /tmp/wq-100k --modes one_read \
        --profile /tmp/rebuild.prof                                     # cProfile the rebuild
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import nats
from nats.js import api

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adapters.log.codec import Codec, CommitWire  # noqa: E402
from adapters.log.jetstream_store import JetStreamEventStore  # noqa: E402
from adapters.log.subjects import event_subject  # noqa: E402
from adapters.nats.embedded_server import EmbeddedNatsServer  # noqa: E402
from application.log.ports import Commit, StreamId  # noqa: E402
from domain.decider import Context, Decider  # noqa: E402
from domain.errors import Rejected  # noqa: E402
from domain.media import Media  # noqa: E402
from domain.playlists.model import (  # noqa: E402
    CreatePlaylist,
    RenamePlaylist,
    SetPlaylistItems,
    playlist_decider,
)
from domain.presence.model import (  # noqa: E402
    ObserveAfkChanged,
    ObservedUser,
    ObserveUserJoined,
    ObserveUserLeft,
    presence_decider,
)
from domain.promos.config import (  # noqa: E402
    GeneralCadence,
    PromoConfig,
    SetPromoConfig,
    promo_config_decider,
)
from domain.queue.commands import (  # noqa: E402
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
)
from domain.queue.decider import queue_decider  # noqa: E402
from domain.queue.pay_model import (  # noqa: E402
    CancelPayItem,
    LockQueue,
    RecordPaymentCaptured,
    RecordPaymentDeclined,
    RecordRefund,
    RequestPayItem,
    StartPayItemAdd,
    UnlockQueue,
)
from domain.queue.promo_decide import promo_slot  # noqa: E402
from domain.queue.promo_model import DirectPromos, PromoChosen  # noqa: E402
from domain.wallet.model import (  # noqa: E402
    DebitForRequest,
    GrantCredit,
    RefundRequest,
    RequestDebited,
    wallet_decider,
)

RESULTS = Path(__file__).resolve().parent / "results"
PREFIX = "wq.ev"
STREAM = "WEBQUEUE"
START = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
PROMO_TYPES = ("channel_identity", "event", "mod_shoutout", "feature_presentation")


# ---- a simulated world, decided by the domain ------------------------------------------------


class World:
    """Every aggregate's state and version, advanced only through the deciders."""

    def __init__(self, seed: int, emit: Callable[[Commit], None]) -> None:
        self.rand = random.Random(seed)
        self._emit = emit
        self._streams: dict[StreamId, list[Any]] = {}
        self.events = 0
        self.commits = 0
        self.rejected = 0

    def state(self, decider: Decider[Any, Any, Any], stream: StreamId) -> Any:
        held = self._streams.get(stream)
        return held[0] if held else decider.initial(stream.id)

    def do(
        self,
        decider: Decider[Any, Any, Any],
        stream: StreamId,
        command: Any,
        now: datetime,
        actor: str = "bench",
    ) -> tuple[Any, ...]:
        held = self._streams.get(stream)
        if held is None:
            held = self._streams[stream] = [decider.initial(stream.id), 0]
        try:
            events = decider.decide(held[0], command, Context(now=now, random=self.rand))
        except Rejected:
            self.rejected += 1
            return ()
        if not events:
            return ()
        state = held[0]
        for event in events:
            state = decider.evolve(state, event)
        held[0] = state
        held[1] += 1
        self.events += len(events)
        self.commits += 1
        self._emit(Commit(uuid.uuid4().hex, stream, held[1], now, actor, tuple(events)))
        return tuple(events)


class ChannelSim:
    """One CyTube channel: a playlist that plays and changes, viewers who come and go, buy and
    cancel, promos that the director chooses and inserts, saved playlists and settings."""

    USERS = 60

    def __init__(self, world: World, name: str, *, queue_only: bool = False) -> None:
        self.w, self.name, self.queue_only = world, name, queue_only
        self.rand = world.rand
        self.now = START + timedelta(minutes=world.rand.randrange(600))
        self.uid = 0
        self.media_seq = 0
        self.purchase_seq = 0
        self.queue = StreamId(name, "queue", name)
        self.presence = StreamId(name, "presence", name)
        self.settings = StreamId(name, "promo_config", name)
        self.users = [f"user{i:02d}" for i in range(self.USERS)]
        self.here: set[str] = set()
        self.pools = {
            t: tuple(Media("yt", f"{name}-{t}-{i}", f"{t} clip {i}", 8 + i) for i in range(4))
            for t in PROMO_TYPES
        }
        self.config = PromoConfig(general=GeneralCadence(every_n_items=3, every_m_minutes=20))
        self.open_purchases: list[tuple[str, str, int]] = []  # (request id, user, cost)
        self.locked = False

    # helpers
    def _media(self, temp: bool = False) -> Media:
        self.media_seq += 1
        minutes = self.rand.choice((2, 3, 3, 4, 4, 5, 7, 12, 95))
        return Media(
            "yt", f"{self.name}-m{self.media_seq}", f"Video {self.media_seq}", minutes * 60
        )

    def _q(self, command: Any, actor: str = "robot") -> tuple[Any, ...]:
        return self.w.do(queue_decider, self.queue, command, self.now, actor)

    def _wallet(self, user: str) -> StreamId:
        return StreamId(self.name, "wallet", user)

    def _tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def _add(self, media: Media, temp: bool, by: str) -> int:
        self.uid += 1
        state = self.w.state(queue_decider, self.queue)
        after = state.items[-1].uid if state.items and self.rand.random() < 0.9 else None
        self._q(ObserveItemQueued(self.uid, media, temp=temp, queued_by=by, after=after))
        return self.uid

    # setup
    def seed(self) -> None:
        if not self.queue_only:
            for t, clips in self.pools.items():
                playlist = StreamId(self.name, "playlist", f"pool-{t}")
                self.w.do(
                    playlist_decider, playlist, CreatePlaylist(t, "mod", promo_type=t), self.now
                )  # type: ignore[arg-type]
                self.w.do(playlist_decider, playlist, SetPlaylistItems(clips, "mod"), self.now)
            self.w.do(
                promo_config_decider, self.settings, SetPromoConfig(self.config, "mod"), self.now
            )
            for user in self.users:
                self.w.do(
                    wallet_decider,
                    self._wallet(user),
                    GrantCredit(5000, "mod", "welcome"),
                    self.now,
                )
        for _ in range(12):
            self._add(self._media(), temp=False, by="mod")
        first = self.w.state(queue_decider, self.queue).items[0]
        self._q(ObserveNowPlaying(first.uid))

    # one step of channel life
    def step(self) -> None:
        r = self.rand.random()
        if self.queue_only:
            if r < 0.45:
                self.play_next()
            elif r < 0.85:
                self.add_content()
            elif r < 0.95:
                self.move()
            else:
                self.prune()
            return
        if r < 0.26:
            self.play_next()
        elif r < 0.44:
            self.add_content()
        elif r < 0.47:
            self.move()
        elif r < 0.50:
            self.prune()
        elif r < 0.60:
            self.purchase()
        elif r < 0.63:
            self.cancel_purchase()
        elif r < 0.83:
            self.presence_change()
        elif r < 0.90:
            self.direct_promos()
        elif r < 0.95:
            user = self.rand.choice(self.users)
            self.w.do(wallet_decider, self._wallet(user), GrantCredit(500, "mod", "tip"), self.now)
        elif r < 0.97:
            self.edit_playlist()
        elif r < 0.975:
            self.change_settings()
        else:
            self.toggle_lock()
        self._tick(self.rand.uniform(1, 20))

    def play_next(self) -> None:
        state = self.w.state(queue_decider, self.queue)
        current = state.current
        if current is not None:
            self._tick(current.media.duration_sec + 1)
            if current.temp:  # CyTube deletes a finished temp item before the next setCurrent
                self._q(ObserveItemDeleted(current.uid))
        state = self.w.state(queue_decider, self.queue)
        upcoming = state.upcoming()
        if upcoming:
            self._q(ObserveNowPlaying(upcoming[0].uid))

    def add_content(self) -> None:
        state = self.w.state(queue_decider, self.queue)
        if len(state.items) < 30:
            self._add(self._media(), temp=self.rand.random() < 0.5, by=self.rand.choice(self.users))

    def move(self) -> None:
        state = self.w.state(queue_decider, self.queue)
        if len(state.items) > 3:
            item, anchor = self.rand.sample(state.items, 2)
            self._q(ObserveItemMoved(item.uid, anchor.uid))

    def prune(self) -> None:
        state = self.w.state(queue_decider, self.queue)
        candidates = [i for i in state.items if i.item_id != state.now_playing and not i.request_id]
        if len(state.items) > 20 and candidates:
            self._q(ObserveItemDeleted(self.rand.choice(candidates).uid))

    def purchase(self) -> None:
        self.purchase_seq += 1
        rid = f"{self.name}-r{self.purchase_seq}"
        user = self.rand.choice(self.users)
        media = self._media()
        tier = "playnext" if self.rand.random() < 0.3 else "queue"
        if not self._q(RequestPayItem(rid, user, media, tier), actor=user):  # type: ignore[arg-type]
            return
        cost = 100 + media.duration_sec // 6
        debit = self.w.do(wallet_decider, self._wallet(user), DebitForRequest(rid, cost), self.now)
        if not (debit and isinstance(debit[0], RequestDebited)):
            self._q(RecordPaymentDeclined(rid, "insufficient_balance", "Not enough."), "pay-flow")
            return
        self._q(RecordPaymentCaptured(rid, cost), "pay-flow")
        self._q(StartPayItemAdd(rid), "pay-flow")
        uid = self._add(media, temp=True, by="webqueue")
        state = self.w.state(queue_decider, self.queue)
        pay = state.pay_item(rid)
        if pay is not None and pay.item_id is not None and pay.slot_chosen:
            anchor = state.by_id(pay.slot_after) if pay.slot_after else None
            self._q(ObserveItemMoved(uid, anchor.uid if anchor else "prepend"))
        self.open_purchases.append((rid, user, cost))
        del self.open_purchases[:-20]

    def cancel_purchase(self) -> None:
        if not self.open_purchases:
            return
        rid, user, cost = self.open_purchases.pop(self.rand.randrange(len(self.open_purchases)))
        state = self.w.state(queue_decider, self.queue)
        pay = state.pay_item(rid)
        if pay is None or pay.finished or pay.placement == "playing":
            return
        if not self._q(CancelPayItem(rid, "owner_left", "presence"), "presence-monitor"):
            return
        item = state.by_id(pay.item_id) if pay.item_id else None
        if item is not None:
            self._q(ObserveItemDeleted(item.uid))
        if self._q(RecordRefund(rid, cost), "pay-flow"):
            self.w.do(
                wallet_decider, self._wallet(user), RefundRequest(rid, "owner_left"), self.now
            )

    def presence_change(self) -> None:
        user = self.rand.choice(self.users)
        r = self.rand.random()
        if user not in self.here:
            command: Any = ObserveUserJoined(ObservedUser(user, self.rand.choice((0, 1, 2))))
            self.here.add(user)
        elif r < 0.5:
            command = ObserveUserLeft(user)
            self.here.discard(user)
        else:
            command = ObserveAfkChanged(user, self.rand.random() < 0.5)
        self.w.do(presence_decider, self.presence, command, self.now, "robot")

    def direct_promos(self) -> None:
        chosen = [
            e
            for e in self._q(DirectPromos(self.pools, self.config), "promo-director")  # type: ignore[arg-type]
            if isinstance(e, PromoChosen)
        ]
        for promo in chosen:
            self._add(promo.media, temp=True, by="webqueue")
        for picked in sorted(chosen, key=lambda p: p.role != "lead_in"):
            state = self.w.state(queue_decider, self.queue)
            insert = next((p for p in state.promos if p.promo_id == picked.promo_id), None)
            if insert is None or insert.item_id is None:
                continue
            found, follow = promo_slot(state, insert)
            item = state.by_id(insert.item_id)
            if found and item is not None:
                anchor = state.by_id(follow) if follow else None
                self._q(ObserveItemMoved(item.uid, anchor.uid if anchor else "prepend"))

    def edit_playlist(self) -> None:
        t = self.rand.choice(PROMO_TYPES)
        playlist = StreamId(self.name, "playlist", f"pool-{t}")
        if self.rand.random() < 0.5:
            clips = tuple(self.rand.sample(self.pools[t], len(self.pools[t])))
            self.w.do(playlist_decider, playlist, SetPlaylistItems(clips, "mod"), self.now)
        else:
            name = f"{t} ({self.rand.randrange(100)})"
            self.w.do(playlist_decider, playlist, RenamePlaylist(name, "mod"), self.now)

    def change_settings(self) -> None:
        n = self.rand.choice((2, 3, 4, 5))
        self.config = PromoConfig(general=GeneralCadence(every_n_items=n, every_m_minutes=20))
        self.w.do(promo_config_decider, self.settings, SetPromoConfig(self.config, "mod"), self.now)

    def toggle_lock(self) -> None:
        if self.locked:
            self.locked = not self._q(UnlockQueue("mod"), "mod") and self.locked
        else:
            until = self.now + timedelta(minutes=30)
            self.locked = bool(self._q(LockQueue("scheduled event", until, "mod"), "mod"))


def simulate(
    events: int, channels: int, seed: int, *, queue_only: bool = False
) -> Iterator[Commit]:
    """Commits, oldest first, until `events` events have been decided."""
    out: list[Commit] = []
    world = World(seed, out.append)
    sims = [ChannelSim(world, f"channel-{i:02d}", queue_only=queue_only) for i in range(channels)]
    for sim in sims:
        sim.seed()
    yield from out
    out.clear()
    while world.events < events:
        world.rand.choice(sims).step()
        yield from out
        out.clear()


# ---- generation into JetStream -------------------------------------------------------------


async def publish(url: str, commits: Iterator[Commit], *, stream: str = STREAM) -> dict[str, Any]:
    """Publish commits in order with publish_async (4000 in flight), each with its
    `Nats-Msg-Id` like the store's append; returns counts and timings."""
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=4000)
    store = JetStreamEventStore(nc, stream=stream, prefix=PREFIX)
    await store.ensure_stream()
    codec = Codec()
    started = time.perf_counter()
    pending: list[Any] = []
    n = events = 0
    for commit in commits:
        payload = codec.encode_commit(commit)
        subject = event_subject(PREFIX, commit.stream)
        headers = {api.Header.MSG_ID: commit.commit_id}
        pending.append(await js.publish_async(subject, payload, headers=headers))
        n += 1
        events += len(commit.events)
        if len(pending) >= 20_000:
            await _settle(pending)
    await _settle(pending)
    took = time.perf_counter() - started
    head = await store.head()
    await nc.close()
    return {"commits": n, "events": events, "seconds": took, "head": head}


async def _settle(pending: list[Any]) -> None:
    for result in await asyncio.gather(*pending, return_exceptions=True):
        if isinstance(result, BaseException):
            raise RuntimeError(f"publish failed: {result!r}")
    pending.clear()


def _generate_child(url: str, events: int, channels: int, seed: int, out: Any) -> None:
    started = time.perf_counter()
    result = asyncio.run(publish(url, simulate(events, channels, seed)))
    result["total_seconds"] = time.perf_counter() - started
    out.send(result)
    out.close()


def generate(url: str, events: int, channels: int, seed: int) -> dict[str, Any]:
    """Generate in a child process, so its memory is not counted in the rebuild's RSS."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_generate_child, args=(url, events, channels, seed, child))
    proc.start()
    child.close()
    result: dict[str, Any] = parent.recv()
    proc.join()
    return result


# ---- measurements ---------------------------------------------------------------------------


def rss_mb() -> float:
    return _proc_status("VmRSS")


def _proc_status(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler:
    """Samples this process's RSS every `interval` seconds while a measurement runs."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None
        self._t0 = 0.0

    async def _run(self) -> None:
        while True:
            self.samples.append((time.perf_counter() - self._t0, rss_mb()))
            await asyncio.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._t0 = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.samples.append((time.perf_counter() - self._t0, rss_mb()))

    def at(self, fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0)) -> list[float]:
        """RSS at these fractions of the measurement's duration (nearest sample)."""
        if not self.samples:
            return []
        end = self.samples[-1][0]
        return [
            round(min(self.samples, key=lambda s: abs(s[0] - end * f))[1], 1) for f in fractions
        ]

    @property
    def peak(self) -> float:
        return round(max(s[1] for s in self.samples), 1)


# ---- raw reads: the client library and msgspec, nothing of ours ------------------------------


def _rate(what: str, messages: int, events: int, seconds: float) -> dict[str, Any]:
    return {
        "what": what,
        "commits": messages,
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_sec": round(events / seconds),
        "commits_per_sec": round(messages / seconds),
    }


def _consumer(name: str | None = None, **extra: Any) -> api.ConsumerConfig:
    return api.ConsumerConfig(
        name=name,
        filter_subject=f"{PREFIX}.>",
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.NONE,
        inactive_threshold=60.0,
        mem_storage=True,
        num_replicas=1,
        **extra,
    )


async def raw_read_fetch(url: str, batch: int = 1000) -> dict[str, Any]:
    """nats-py's own pull API: a pull consumer (AckNone) and `fetch(1000)` in a loop (the
    store's read path before this benchmark), decoding each message into the wire struct."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    decoder = msgspec.json.Decoder(CommitWire)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    events = messages = 0
    started = time.perf_counter()
    info = await js.add_consumer(STREAM, _consumer(name))
    sub = await js.pull_subscribe_bind(name, stream=STREAM)
    remaining = info.num_pending or 0
    while remaining > 0:
        msgs = await sub.fetch(min(batch, remaining), timeout=30)
        for msg in msgs:
            events += len(decoder.decode(msg.data).events)
        messages += len(msgs)
        remaining -= len(msgs)
    took = time.perf_counter() - started
    await js.delete_consumer(STREAM, name)
    await nc.close()
    return _rate("nats-py pull fetch(1000) + msgspec decode", messages, events, took)


async def raw_read_pull_inbox(url: str, batch: int = 1000, in_flight: int = 2) -> dict[str, Any]:
    """The consumer our store reads with: a pull consumer (AckNone, in memory) whose batches
    are requested into a plain inbox subscription, `in_flight` batches ahead; each message
    msgspec-decoded into the commit wire struct and nothing else."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    decoder = msgspec.json.Decoder(CommitWire)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    arrived: deque[Any] = deque()
    woken = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        arrived.append(msg)
        woken.set()

    started = time.perf_counter()
    info = await js.add_consumer(STREAM, _consumer(name))
    total = info.num_pending or 0
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=on_msg, pending_msgs_limit=-1, pending_bytes_limit=-1)
    next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{name}"
    asked = messages = events = 0
    while messages < total:
        while asked < total and asked - messages < in_flight * batch:
            n = min(batch, total - asked)
            await nc.publish(next_subject, b'{"batch":%d,"expires":30000000000}' % n, reply=inbox)
            asked += n
        if not arrived:
            woken.clear()
            await asyncio.wait_for(woken.wait(), 30)
            continue
        while arrived:
            events += len(decoder.decode(arrived.popleft().data).events)
            messages += 1
    took = time.perf_counter() - started
    await sub.unsubscribe()
    await js.delete_consumer(STREAM, name)
    await nc.close()
    what = f"pull consumer, {in_flight}x{batch} requested into an inbox + msgspec decode"
    return _rate(what, messages, events, took)


async def raw_read_push(url: str) -> dict[str, Any]:
    """A push consumer (AckNone, flow control) delivering to a plain subscription callback,
    each message msgspec-decoded into the commit wire struct and nothing else."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    decoder = msgspec.json.Decoder(CommitWire)
    head = (await js.stream_info(STREAM)).state.last_seq
    deliver = nc.new_inbox()
    done = asyncio.Event()
    counts = [0, 0]  # messages, events

    async def on_msg(msg: Any) -> None:
        if not msg.data:  # a flow control request (answered) or a heartbeat
            if msg.reply:
                await nc.publish(msg.reply, b"")
            return
        counts[1] += len(decoder.decode(msg.data).events)
        counts[0] += 1
        if counts[0] >= head:
            done.set()

    sub = await nc.subscribe(deliver, cb=on_msg, pending_msgs_limit=-1, pending_bytes_limit=-1)
    config = _consumer(
        deliver_subject=deliver, flow_control=True, idle_heartbeat=5.0, max_ack_pending=-1
    )
    started = time.perf_counter()
    info = await js.add_consumer(STREAM, config)
    await asyncio.wait_for(done.wait(), timeout=3600)
    took = time.perf_counter() - started
    await sub.unsubscribe()
    with contextlib.suppress(Exception):
        await js.delete_consumer(STREAM, info.name)
    await nc.close()
    return _rate("push consumer -> subscription callback + msgspec decode", *counts, took)


async def store_read_all(url: str) -> dict[str, Any]:
    """JetStreamEventStore.read_all with the full codec (typed events, StoredCommit)."""
    nc = await nats.connect(url)
    store = JetStreamEventStore(nc, stream=STREAM, prefix=PREFIX)
    events = messages = 0
    started = time.perf_counter()
    async for stored in store.read_all():
        messages += 1
        events += len(stored.commit.events)
    took = time.perf_counter() - started
    await nc.close()
    return _rate("ours: JetStreamEventStore.read_all (typed decode)", messages, events, took)


# ---- rebuilds -------------------------------------------------------------------------------


async def rebuild(
    url: str, db_url: str, label: str, mode: str, profile: Path | None = None
) -> dict[str, Any]:
    """Every projection of `projections()` rebuilt through ProjectionRunner into one database:
    `one_read` with `rebuild_many`, as `webqueue rebuild` does it (one read of the log feeds
    every runner), `sequential` one runner after the other, each reading the whole log (what
    `webqueue rebuild` did before)."""
    from adapters.sql.projection_store import SqlProjectionStore
    from application.projections.runner import ProjectionRunner, rebuild_many
    from entrypoints.bootstrap import projections

    nc = await nats.connect(url)
    events_store = JetStreamEventStore(nc, stream=STREAM, prefix=PREFIX)
    read_models = SqlProjectionStore(db_url)
    await read_models.prepare()
    runners = [ProjectionRunner(events_store, read_models, p) for p in projections()]
    per_projection: list[dict[str, Any]] = []
    gc.collect()
    rss_before = rss_mb()
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    cpu_started = time.process_time()
    with RssSampler() as sampler:
        if mode == "one_read":
            await rebuild_many(runners)
        else:
            for runner in runners:
                t0 = time.perf_counter()
                await runner.rebuild()
                seconds = round(time.perf_counter() - t0, 2)
                per_projection.append({"projection": runner.projection.name, "seconds": seconds})
    took = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(f"{profile}.{mode}")
    positions = {r.projection.name: r.position for r in runners}
    await read_models.close()
    await nc.close()
    return {
        "target": label,
        "mode": mode,
        "projections": [r.projection.name for r in runners],
        "positions": positions,
        "seconds": round(took, 3),
        # CPU of this process (its event loop and the SQLite driver's thread): less moved by
        # other work on the machine than the wall clock.
        "process_cpu_sec": round(cpu, 3),
        "per_projection": per_projection,
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_at_10_25_50_75_100pct": sampler.at(),
        "rss_mb_peak_sampled": sampler.peak,
        "rss_samples": len(sampler.samples),
    }


@contextlib.asynccontextmanager
async def pg_database(url: str) -> AsyncIterator[str]:
    """A throw-away database on the PostgreSQL server of `url`, dropped afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"wq_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


# ---- main -------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "note": "shared machine: its 2 cores were in use by other engineers' work at the same "
        "time, so absolute figures are noisy; ratios were measured back to back",
        "loadavg_at_start": os.getloadavg(),
    }


def _generated(store: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """The generation record of a `--store` dir, if it holds the log these arguments ask for."""
    record = store / "generation.json"
    if not record.exists():
        return None
    saved: dict[str, Any] = json.loads(record.read_text())
    wanted = {"events_requested": args.events, "channels": args.channels, "seed": args.seed}
    if any(saved.get(k) != v for k, v in wanted.items()):
        raise SystemExit(f"{store} holds a log of {saved}, not {wanted}: use another --store")
    return saved


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.store is not None:
        workdir = args.store
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "read.db").unlink(missing_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="wq-bench-rebuild-"))
    server = EmbeddedNatsServer(workdir / "data", auth=False)  # a bench broker, open
    url = await asyncio.to_thread(server.start)
    started_machine = machine()
    try:
        gen = _generated(workdir, args) if args.store is not None else None
        if gen is not None:
            print(f"reusing the log in {workdir}: {gen['commits']:,} commits", flush=True)
        else:
            print(
                f"generating {args.events:,} events across {args.channels} channels ...",
                flush=True,
            )
            gen = await asyncio.to_thread(generate, url, args.events, args.channels, args.seed)
            if args.store is not None:
                record = {
                    **gen,
                    "events_requested": args.events,
                    "channels": args.channels,
                    "seed": args.seed,
                }
                (workdir / "generation.json").write_text(json.dumps(record, indent=2) + "\n")
        print(
            f"  {gen['commits']:,} commits, {gen['events']:,} events in "
            f"{gen['total_seconds']:.1f}s (deciders + encode + publish_async)",
            flush=True,
        )
        events = gen["events"]
        raw = []
        for reader in (raw_read_fetch, raw_read_pull_inbox, raw_read_push, store_read_all):
            result = await reader(url)
            raw.append(result)
            print(f"  {result['what']}: {result['events_per_sec']:,} events/s", flush=True)
        store_consumer = raw[1]["events_per_sec"]
        fastest = max(r["events_per_sec"] for r in raw[:3])
        targets = [("sqlite", f"sqlite+aiosqlite:///{workdir / 'read.db'}")]
        rebuilds = []
        for label, db_url in targets:
            for mode in args.modes:
                rebuilds.append(await rebuild(url, db_url, label, mode, args.profile))
                print(f"  rebuild {label} {mode}: {rebuilds[-1]['seconds']}s", flush=True)
        if args.pg:
            async with pg_database(args.pg) as pg_url:
                for mode in args.modes:
                    rebuilds.append(await rebuild(url, pg_url, "postgresql", mode))
                    print(f"  rebuild postgresql {mode}: {rebuilds[-1]['seconds']}s", flush=True)
        for r in rebuilds:
            r["events"] = events
            r["events_per_sec"] = round(events / r["seconds"])
            r["ratio_to_raw_store_consumer"] = round(r["events_per_sec"] / store_consumer, 3)
            r["ratio_to_raw_fastest"] = round(r["events_per_sec"] / fastest, 3)
        return {
            "benchmark": "rebuild",
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": started_machine,
            "loadavg_at_end": os.getloadavg(),
            "events_requested": args.events,
            "channels": args.channels,
            "generation": gen,
            "raw_read": raw,
            "raw_store_consumer_events_per_sec": store_consumer,
            "raw_fastest_events_per_sec": fastest,
            "rebuild": rebuilds,
            "targets": {"rebuild_vs_raw": ">= 0.5", "rss": "flat"},
        }
    finally:
        await asyncio.to_thread(server.stop)
        if args.store is not None:
            (workdir / "read.db").unlink(missing_ok=True)
        elif args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def table(result: dict[str, Any]) -> str:
    gen = result["generation"]
    raw_rate = result["raw_store_consumer_events_per_sec"]
    lines = [
        f"log: {gen['commits']:,} commits, {gen['events']:,} events, {result['channels']} "
        f"channels; generated in {gen['total_seconds']:.1f}s "
        f"({gen['events'] / gen['total_seconds']:,.0f} events/s: deciders + encode + "
        "publish_async)",
        "",
        f"{'measurement':<74} {'seconds':>8} {'events/s':>10} {'÷ raw':>6}",
        "-" * 101,
    ]
    for r in result["raw_read"]:
        lines.append(
            f"{r['what']:<74} {r['seconds']:>8.2f} {r['events_per_sec']:>10,} "
            f"{r['events_per_sec'] / raw_rate:>6.2f}"
        )
    for r in result["rebuild"]:
        what = f"rebuild all {len(r['projections'])} projections -> {r['target']}, {r['mode']}"
        lines.append(
            f"{what:<74} {r['seconds']:>8.2f} {r['events_per_sec']:>10,} "
            f"{r['ratio_to_raw_store_consumer']:>6.2f}"
        )
        for p in r["per_projection"]:
            lines.append(f"    {p['projection']:<70} {p['seconds']:>8.2f}")
        lines.append(f"    process CPU {r['process_cpu_sec']:.2f}s")
        lines.append(
            f"    RSS MB: before {r['rss_mb_before']}, at 10/25/50/75/100% "
            f"{r['rss_mb_at_10_25_50_75_100pct']}, peak {r['rss_mb_peak_sampled']}"
        )
    lines.append("")
    lines.append(
        "÷ raw: against the store's consumer type read raw (pull, requests into an inbox); "
        f"fastest raw {result['raw_fastest_events_per_sec']:,} events/s. Shared 2-core machine."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg", help="PostgreSQL URL (postgresql+asyncpg://...): rebuild there too")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["one_read", "sequential"],
        choices=["one_read", "sequential"],
        help="rebuild with one read for all projections, and/or one projection after another",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (log, SQLite)")
    parser.add_argument(
        "--store",
        type=Path,
        help="keep the generated log in this dir and reuse it on the next run with the same "
        "--events, --channels and --seed (generation is the slow part)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="cProfile the SQLite rebuilds; stats written to PATH.<mode> (pstats format)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "rebuild.json")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print()
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
