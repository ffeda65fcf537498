"""Likes: how fast likes are taken, and what a flood of refused ones costs, against a bare
JetStream publish-ack.

One process, a fresh nats-server (file store). The like path is the service's own:
`LikeService.like` reads what plays from the queue aggregate (`CommandHandler.state`, one
batched direct get), decides against the user's likes aggregate and appends one commit with
optimistic concurrency. Rows:

The like rules are folded from the shared tail, as the service is wired (no read per like).

* `like (counted)`: `clients` users, each liking back to back with the dedupe off and a rate
  limit no one reaches, so every like appends a `Liked`;
* `like (flood, refused)`: the same users liking the same medium again, which the dedupe window
  refuses (`already_liked`): nothing is appended, the cost is the read of what plays;
* `raw publish-ack`: a bare `js.publish` of a payload the size of a like's commit, at the same
  concurrency over as many subjects, on a second stream of the same server, timed around the
  like rows (pooled before and after).

Then the stats mirror (`StatsMirrorRunner`) is started on the whole log and timed until the
KV bucket holds it: commits folded and keys written per second.

    python bench/bench_likes.py                    # full size
    python bench/bench_likes.py --ops 500 --clients 1,8
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import common
from common import (
    closed_loop,
    fresh_nats_server,
    quiet_logs,
    raw_stream,
    summary,
    table,
    write_json,
)

from adapters.clock import WallClock
from adapters.log.jetstream_store import JetStreamEventStore
from adapters.stats.kv_mirror import NatsKvStatsBucket
from application.identity.roles import Identity
from application.likes.playing import QueueNowPlaying
from application.likes.rules import LikeRulesService
from application.likes.service import LikeService
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import queue_stream
from application.log.tail import LogTail
from application.stats.mirror import StatsMirrorRunner
from domain.errors import Rejected
from domain.likes.model import LikeRules
from domain.media import Media
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider

NAME = "likes"


def _row(name: str, clients: int, result: dict[str, Any]) -> list[Any]:
    s = summary(result["latencies_ms"])
    return [name, clients, s["n"], result["rate_per_sec"], s["p50"], s["p99"], result["errors"]]


async def run(ops: int, client_counts: list[int], max_seconds: float) -> dict[str, Any]:
    import nats

    record = common.started_record(NAME, {"ops": ops, "clients": client_counts})
    rows: list[list[Any]] = []
    with fresh_nats_server() as (url, _, _):
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=10)
        events = JetStreamEventStore(nc)
        await events.ensure_stream()
        await raw_stream(js)
        tail = LogTail(events)
        handler = CommandHandler(tail, WallClock())
        for uid in (1, 2):
            media = Media("yt", f"bench{uid}", f"Bench {uid}", 300)
            await handler.handle(
                queue_decider,
                queue_stream("lobby"),
                ObserveItemQueued(uid, media),
                CommandMeta.new(),
            )
        await handler.handle(
            queue_decider, queue_stream("lobby"), ObserveNowPlaying(1), CommandMeta.new()
        )
        playing = QueueNowPlaying(handler)
        # The like rules as the service is wired: folded from the shared tail (no read per like).
        counted_rules = LikeRulesService(handler, LikeRules(1_000, 1, 0))
        deduped_rules = LikeRulesService(handler, LikeRules(1_000, 1, 86_400))
        following = [asyncio.create_task(r.run(tail)) for r in (counted_rules, deduped_rules)]
        while not (counted_rules.from_memory and deduped_rules.from_memory):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        counted = LikeService(handler, playing, counted_rules, "lobby")
        deduped = LikeService(handler, playing, deduped_rules, "lobby")
        payload = b"x" * 420  # about a like's commit on the wire
        measured: dict[str, Any] = {}

        async def raw(clients: int) -> dict[str, Any]:
            async def op(c: int, k: int) -> None:
                await js.publish(f"raw.u{c}", payload, timeout=10)

            return await closed_loop(clients, ops, op, max_seconds=max_seconds, warmup=5)

        for clients in client_counts:
            users = [Identity(f"u{clients}x{c}", "viewer") for c in range(clients)]

            async def like(c: int, k: int, users: list[Identity] = users) -> None:
                await counted.like(users[c])

            async def flood(c: int, k: int, users: list[Identity] = users) -> None:
                try:
                    await deduped.like(users[c])
                except Rejected as exc:
                    if exc.code != "already_liked":
                        raise
                    return
                raise RuntimeError("a repeat like was counted")

            before = await raw(clients)
            ok = await closed_loop(clients, ops, like, max_seconds=max_seconds, warmup=5)
            refused = await closed_loop(clients, ops, flood, max_seconds=max_seconds, warmup=5)
            after = await raw(clients)
            pooled = {
                "latencies_ms": before["latencies_ms"] + after["latencies_ms"],
                "errors": before["errors"] + after["errors"],
                "rate_per_sec": (before["rate_per_sec"] + after["rate_per_sec"]) / 2,
            }
            rows += [
                _row("like (counted)", clients, ok),
                _row("like (flood, refused)", clients, refused),
                _row("raw publish-ack", clients, pooled),
            ]
            measured[str(clients)] = {
                "counted": {**summary(ok["latencies_ms"]), "rate_per_sec": ok["rate_per_sec"]},
                "refused": {
                    **summary(refused["latencies_ms"]),
                    "rate_per_sec": refused["rate_per_sec"],
                },
                "raw": {**summary(pooled["latencies_ms"]), "rate_per_sec": pooled["rate_per_sec"]},
            }

        head = await events.head()
        bucket = NatsKvStatsBucket(nc, "BENCH_STATS", "lobby")
        mirror = StatsMirrorRunner(tail, bucket, "lobby")
        started = time.perf_counter()
        task = asyncio.create_task(mirror.run())
        await mirror.wait_synced(head)
        rebuild_sec = time.perf_counter() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        keys = len(await bucket.keys())
        for follow in following:
            follow.cancel()
        await asyncio.gather(*following, return_exceptions=True)
        await tail.close()
        await nc.close()
    print(
        table(
            ["what", "clients", "n", "per sec", "p50 ms", "p99 ms", "errors"],
            rows,
            title="Likes against a bare JetStream publish-ack (same server, same run)",
        )
    )
    print(
        f"\nstats mirror rebuilt from the log: {head} commits, {keys} keys in "
        f"{rebuild_sec:.2f} s ({head / rebuild_sec:,.0f} commits/s)"
    )
    record.update(
        {
            "results": measured,
            "mirror_rebuild": {"commits": head, "keys": keys, "seconds": rebuild_sec},
            "load_average_after": common.load_average(),
        }
    )
    path = write_json(NAME, record)
    print(f"written to {path.relative_to(common.REPO)}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ops", type=int, default=2_000)
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()
    quiet_logs()
    clients = [int(c) for c in args.clients.split(",")]
    asyncio.run(run(args.ops, clients, args.max_seconds))
    sys.exit(0)


if __name__ == "__main__":
    main()
