"""Schedule status benchmark: what one render of the viewers' event status costs (the lock
banner on every page, `GET .../schedules/status`), read through the command handler from the
log (before) and from ScheduleStatusView's copy in memory (after), on a real JetStream.

One fresh nats-server holds a channel's queue stream (`--queue-commits` commits, the queue
under a pre-fire lock) and its schedules stream (`--schedules` weekly schedules). Each path is
called `--calls` times in a row after a warm-up:

- `log (before)`: ScheduleService.status over a warm CommandHandler (its aggregates cached):
  each call still reads each stream's tail from the log, two JetStream round trips;
- `raw log reads`: those two `read_stream(after=head)` calls alone, nothing folded or built:
  the floor of the read the old path makes;
- `view (after)`: ScheduleStatusView.status: the answer built from memory.

Prints a table and writes JSON to bench/results/schedule_status.json.

    python bench/bench_schedule_status.py
    python bench/bench_schedule_status.py --calls 5000 --queue-commits 5000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import nats  # noqa: E402
from common import (  # noqa: E402
    fresh_nats_server,
    load_average,
    ratio,
    started_record,
    summary,
    table,
    write_json,
)

from adapters.clock import VirtualClock  # noqa: E402
from adapters.log.jetstream_store import JetStreamEventStore  # noqa: E402
from application.log.command_handler import CommandHandler, CommandMeta  # noqa: E402
from application.log.streams import queue_stream, schedules_stream  # noqa: E402
from application.log.tail import LogTail  # noqa: E402
from application.playlists.service import PlaylistService  # noqa: E402
from application.schedules.service import ScheduleConfig, ScheduleService  # noqa: E402
from application.schedules.status_view import ScheduleStatusView  # noqa: E402
from domain.media import Media  # noqa: E402
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying  # noqa: E402
from domain.queue.decider import queue_decider  # noqa: E402
from domain.queue.pay_model import SetScheduleLock  # noqa: E402
from domain.schedules.model import CreateSchedule, ScheduleSpec, schedules_decider  # noqa: E402

NAME = "schedule_status"
CHANNEL = "lobby"
START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


class NoRows:
    async def fetch(self, *args: object, **kwargs: object) -> list[dict[str, object]]:
        return []


async def seed(handler: CommandHandler, queue_commits: int, schedules: int) -> None:
    q = queue_stream(CHANNEL)
    for i in range(queue_commits):
        uid = i + 1
        command: Any = ObserveItemQueued(uid, Media("yt", f"m{uid}", f"Item {uid}", 600))
        await handler.handle(queue_decider, q, command, CommandMeta(f"seed-{i}", actor="bench"))
        if i == 0:
            await handler.handle(
                queue_decider, q, ObserveNowPlaying(1), CommandMeta("seed-np", actor="bench")
            )
    for n in range(schedules):
        fire_at = START + timedelta(days=1, hours=n)
        spec = ScheduleSpec(f"pl{n}", f"Event {n}", fire_at, 3600, None, None, True, "FREQ=WEEKLY")
        await handler.handle(
            schedules_decider,
            schedules_stream(CHANNEL),
            CreateSchedule(f"s{n}", spec, "bench"),
            CommandMeta(f"sched-{n}", actor="bench"),
            config=ScheduleConfig().rules(UTC),
        )
    fire_at = START + timedelta(days=1)
    await handler.handle(
        queue_decider,
        q,
        SetScheduleLock(
            "s0", "pre_fire", "Event 0", START - timedelta(minutes=1), fire_at, fire_at
        ),
        CommandMeta("seed-lock", actor="bench"),
    )


async def timed(call: Callable[[], Awaitable[Any]], calls: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        await call()
    out: list[float] = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        await call()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    record = started_record(NAME, vars(args))
    with fresh_nats_server() as (url, _root, _pid):
        nc = await nats.connect(url)
        try:
            events = JetStreamEventStore(nc, stream="WEBQUEUE", prefix="wq.ev")
            await events.ensure_stream()
            clock = VirtualClock(START, speed=0.0001)
            handler = CommandHandler(events, clock)
            await seed(handler, args.queue_commits, args.schedules)
            service = ScheduleService(
                handler,
                PlaylistService(handler, NoRows(), clock),  # type: ignore[arg-type]
                clock,
            )
            tail = LogTail(events)
            view = ScheduleStatusView(handler, tail, service, channels=[CHANNEL])
            task = asyncio.create_task(view.run())
            await asyncio.wait_for(view.caught_up.wait(), 60)
            before, after = await service.status(CHANNEL), await view.status(CHANNEL)
            assert before == after, (before, after)
            assert after.lock is not None and after.next is not None
            head = await events.head()

            async def raw() -> None:
                await events.read_stream(queue_stream(CHANNEL), after=head)
                await events.read_stream(schedules_stream(CHANNEL), after=head)

            results = {
                "log (before)": await timed(
                    lambda: service.status(CHANNEL), args.calls, args.warmup
                ),
                "raw log reads": await timed(raw, args.calls, args.warmup),
                "view (after)": await timed(lambda: view.status(CHANNEL), args.calls, args.warmup),
            }
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await tail.close()
        finally:
            await nc.close()
    sums = {k: summary(v) for k, v in results.items()}
    raw_p50 = sums["raw log reads"]["p50"]
    rows = [
        [k, s["n"], s["mean"] * 1000, s["p50"] * 1000, s["p99"] * 1000, ratio(s["p50"], raw_p50)]
        for k, s in sums.items()
    ]
    print(
        table(
            ["path", "calls", "mean µs", "p50 µs", "p99 µs", "p50 / raw"],
            rows,
            title=(
                f"One status render ({args.queue_commits} queue commits, {args.schedules} "
                "schedules, warm handler, loopback JetStream)"
            ),
        )
    )
    record.update(
        {
            "results_ms": sums,
            "speedup_p50_view_vs_log": ratio(
                sums["log (before)"]["p50"], sums["view (after)"]["p50"]
            ),
            "load_average_after": load_average(),
        }
    )
    path = write_json(NAME, record)
    print(f"wrote {path}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--queue-commits", type=int, default=1000)
    parser.add_argument("--schedules", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
