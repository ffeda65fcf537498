"""Aggregate load benchmark: how long a cold CommandHandler takes to load a channel's queue state
for a command, when the queue's history holds 1,000 and 1,000,000 commits, with and without
snapshots.

One fresh JetStream (an embedded nats-server in a temp dir) holds one queue stream per size, each
decided by the queue decider from a simulated channel's observations (adds, plays, deletes,
moves). With snapshots, the snapshot is the worst case a handler writing one every
`--snapshot-every` commits (500) can leave: `snapshot_every - 1` commits behind the head. It is
written the way the service writes one (a handler's cold load that folded that much), then the
last commits are published.

Each cold load is a fresh CommandHandler's `load()` of the stream; loads with snapshots are
repeated `--repeats` times (median reported), the full folds without snapshots
`--repeats-full` times (default once: a million-commit fold takes minutes and its read holds
every commit in memory). Prints a table and writes JSON to bench/results/aggregate_load.json.

    python bench/bench_aggregate_load.py                       # 1,000 and 1,000,000 commits
    python bench/bench_aggregate_load.py --sizes 1000 20000    # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

from bench_rebuild import ChannelSim, World, machine, publish  # noqa: E402

from adapters.clock import WallClock  # noqa: E402
from adapters.log.jetstream_snapshots import BUCKET, JetStreamSnapshotStore  # noqa: E402
from adapters.log.jetstream_store import JetStreamEventStore  # noqa: E402
from adapters.nats.embedded_server import EmbeddedNatsServer  # noqa: E402
from application.log.command_handler import CommandHandler  # noqa: E402
from application.log.ports import Commit, EventStore, StoredCommit, StreamId  # noqa: E402
from domain.queue.decider import queue_decider  # noqa: E402

STREAM, PREFIX = "WEBQUEUE", "wq.ev"


def queue_commits(channel: str, n: int, seed: int) -> Iterator[Commit]:
    """Exactly `n` commits of one channel's queue, decided by the queue decider."""
    out: list[Commit] = []
    world = World(seed, out.append)
    sim = ChannelSim(world, channel, queue_only=True)
    sim.seed()
    produced = 0
    while True:
        for commit in out:
            yield commit
            produced += 1
            if produced == n:
                return
        out.clear()
        sim.step()


class CountingStore:
    """Our EventStore port, counting the commits a load reads."""

    def __init__(self, inner: JetStreamEventStore) -> None:
        self.inner = inner
        self.commits_read = 0
        self.reads = 0

    async def append(self, commit: Commit, expected_position: int) -> Any:
        return await self.inner.append(commit, expected_position)

    async def read_stream(self, stream: StreamId, after: int = 0) -> list[StoredCommit]:
        commits = await self.inner.read_stream(stream, after)
        self.reads += 1
        self.commits_read += len(commits)
        return commits

    def read_all(self, after: int = 0, channel: str | None = None) -> Any:
        return self.inner.read_all(after, channel)

    def subscribe(self, after: int = 0, channel: str | None = None) -> Any:
        return self.inner.subscribe(after, channel)

    async def head(self) -> int:
        return await self.inner.head()


async def cold_load(
    events: JetStreamEventStore, stream: StreamId, snapshots: JetStreamSnapshotStore | None
) -> tuple[float, int, Any]:
    """(seconds, commits read, loaded) for a fresh handler's load of the stream."""
    counting = CountingStore(events)
    store: EventStore = counting  # type: ignore[assignment]
    handler = CommandHandler(store, WallClock(), snapshots=snapshots)
    started = time.perf_counter()
    loaded = await handler.load(queue_decider, stream)
    took = time.perf_counter() - started
    await handler.drain_snapshots()
    return took, counting.commits_read, loaded


async def prepare_size(
    url: str, size: int, args: argparse.Namespace, snapshots: JetStreamSnapshotStore
) -> dict[str, Any]:
    """Publish the size's history, with its snapshot `snapshot_every - 1` commits behind."""
    channel = f"load-{size}"
    stream = StreamId(channel, "queue", channel)
    tail = min(args.snapshot_every - 1, size)
    commits = queue_commits(channel, size, seed=size)
    started = time.perf_counter()
    first = await publish(url, itertools.islice(commits, size - tail), stream=STREAM)
    generated = time.perf_counter() - started

    nc = await nats.connect(url)
    events = JetStreamEventStore(nc, stream=STREAM, prefix=PREFIX)
    # The snapshot, written as the service writes one: a cold load that folded a long history.
    writer = CommandHandler(events, WallClock(), snapshots=snapshots, snapshot_every=1)
    prime_started = time.perf_counter()
    await writer.load(queue_decider, stream)
    await writer.drain_snapshots()
    prime = time.perf_counter() - prime_started
    await nc.close()
    snapshot = await snapshots.get(stream)
    assert snapshot is not None, "the priming load wrote no snapshot"

    started = time.perf_counter()
    rest = await publish(url, commits, stream=STREAM)
    generated += time.perf_counter() - started
    print(
        f"  {size:,} commits ({first['events'] + rest['events']:,} events) generated in "
        f"{generated:.1f}s; snapshot at version {snapshot.version}",
        flush=True,
    )
    return {
        "stream": stream,
        "commits": size,
        "events": first["events"] + rest["events"],
        "generation_seconds": round(generated, 1),
        "snapshot_version": snapshot.version,
        "tail_commits": size - snapshot.version,
        "priming_load_seconds": round(prime, 3),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="wq-bench-load-"))
    server = EmbeddedNatsServer(workdir / "data", auth=False)  # a bench broker, open
    url = await asyncio.to_thread(server.start)
    started_machine = machine()
    try:
        nc = await nats.connect(url)
        events = JetStreamEventStore(nc, stream=STREAM, prefix=PREFIX)
        await events.ensure_stream()
        snapshots = JetStreamSnapshotStore(nc, bucket=BUCKET)
        await snapshots.ensure_bucket()
        sizes = []
        for size in args.sizes:
            print(f"history of {size:,} commits ...", flush=True)
            sizes.append(await prepare_size(url, size, args, snapshots))
        # Cold loads from the snapshot, the sizes taking turns so that the shared machine's
        # load weighs on each alike.
        with_snapshot: dict[int, list[tuple[float, int, Any]]] = {s["commits"]: [] for s in sizes}
        for _ in range(args.repeats):
            for s in sizes:
                with_snapshot[s["commits"]].append(await cold_load(events, s["stream"], snapshots))
        for s in sizes:
            runs = with_snapshot[s["commits"]]
            times = [r[0] for r in runs]
            s["with_snapshot"] = {
                "median_seconds": round(statistics.median(times), 4),
                "min_seconds": round(min(times), 4),
                "max_seconds": round(max(times), 4),
                "commits_read": runs[0][1],
                "runs": len(times),
            }
            without = []
            for _ in range(args.repeats_full):
                without.append(await cold_load(events, s["stream"], None))
            s["without_snapshot"] = {
                "median_seconds": (
                    round(statistics.median(w[0] for w in without), 3) if without else None
                ),
                "commits_read": without[0][1] if without else None,
                "runs": len(without),
            }
            s["same_state_as_full_fold"] = (
                all(
                    w[2].state == runs[0][2].state and w[2].version == s["commits"] for w in without
                )
                if without
                else None
            )
            print(
                f"  {s['commits']:,}: cold load with snapshot "
                f"{s['with_snapshot']['median_seconds'] * 1000:.1f} ms, without "
                f"{s['without_snapshot']['median_seconds']} s",
                flush=True,
            )
            del s["stream"]
        await nc.close()
    finally:
        await asyncio.to_thread(server.stop)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    small, big = sizes[0], sizes[-1]
    ratio = big["with_snapshot"]["median_seconds"] / small["with_snapshot"]["median_seconds"]
    return {
        "benchmark": "aggregate_load",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": started_machine,
        "loadavg_at_end": os.getloadavg(),
        "snapshot_every": args.snapshot_every,
        "sizes": sizes,
        "largest_vs_smallest_with_snapshots": round(ratio, 2),
        "target": "largest within 2x of smallest, with snapshots",
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{'history (commits)':>18} {'tail read':>10} {'with snapshot':>15} "
        f"{'without':>10} {'read w/o':>10} {'same state':>11}",
        "-" * 79,
    ]
    for s in result["sizes"]:
        w, wo = s["with_snapshot"], s["without_snapshot"]
        without = f"{wo['median_seconds']:.2f} s" if wo["median_seconds"] is not None else "-"
        lines.append(
            f"{s['commits']:>18,} {w['commits_read']:>10,} "
            f"{w['median_seconds'] * 1000:>12.1f} ms {without:>10} "
            f"{wo['commits_read'] or 0:>10,} {s['same_state_as_full_fold']!s:>11}"
        )
    lines.append("")
    lines.append(
        f"largest / smallest with snapshots: {result['largest_vs_smallest_with_snapshots']}x "
        "(target <= 2x); snapshot every "
        f"{result['snapshot_every']} commits, worst-case tail. Shared 2-core machine."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--snapshot-every", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7, help="cold loads with a snapshot")
    parser.add_argument("--repeats-full", type=int, default=1, help="full folds per size")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (the log)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "aggregate_load.json")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print()
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
