"""Sustained throughput: observation commands over 100 channels against a bare publish loop.

All in this process, on a fresh nats-server:

* raw: 100 publishers (one per subject `raw.ch{i}`), each publishing a payload as large as the
  service's mean commit and awaiting the ack before the next (`js.publish`), for a fixed time.
* handler: 100 channels, each fed CyTube `queue` / `delete` observations one after another (as
  `KrytenInbound` feeds a channel: one at a time, in order) through `CommandHandler.handle` with
  the queue decider on `JetStreamEventStore` (its own stream): decide, publish-ack with the
  expected-sequence and message-id headers, update the cached state. Nothing else runs.
* service: the same load into a whole service (`running(settings)`, no HTTP) the way
  Kryten-Robot's reports enter it (paced by the intake while followers lag, then
  `Observer.observe`), so its projection runners, promo director, presence monitor and pay
  flow follow every commit as in `webqueue serve`. Its sustained rate counts the time until the
  projections have caught up after the load stops, so a backlog is not counted as throughput.

Raw runs before and after the other two, and the ratio uses their mean, so a drifting load on a
shared machine hits both sides alike.

    python bench/bench_throughput.py                  # full size (about 2 minutes)
    python bench/bench_throughput.py --seconds 5      # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
from typing import Any

import common
from common import (
    CpuMeter,
    caught_up,
    fresh_nats_server,
    load_average,
    mean_message_size,
    quiet_logs,
    raw_stream,
    started_record,
    summary,
    table,
    write_json,
)

NAME = "throughput"


async def timed_loop(
    channels: int, seconds: float, op: Any, *, warmup: float, max_ops: int
) -> dict[str, Any]:
    """One task per channel calling `await op(ch, k)` back to back; counts only what completes
    inside the measured window (after `warmup` seconds), up to `max_ops`."""
    latencies: list[float] = []
    errors: list[str] = []
    state = {"measuring": False, "stop": False, "done": 0, "all": 0}

    async def worker(ch: int) -> None:
        for k in itertools.count():
            if state["stop"]:
                return
            t0 = time.perf_counter()
            try:
                await op(ch, k)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            state["all"] += 1
            if state["measuring"] and not state["stop"]:
                latencies.append((time.perf_counter() - t0) * 1000)
                state["done"] += 1
                if state["done"] >= max_ops:
                    state["stop"] = True

    tasks = [asyncio.create_task(worker(ch)) for ch in range(channels)]
    await asyncio.sleep(warmup)
    errors.clear()
    state["measuring"] = True
    started = time.perf_counter()
    while time.perf_counter() - started < seconds and not state["stop"]:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    state["stop"] = True
    wall = time.perf_counter() - started
    await asyncio.gather(*tasks)
    return {
        "commands": state["done"],
        "wall_sec": round(wall, 3),
        "per_sec": state["done"] / wall,
        "ops_total": state["all"],
        "latency_ms": summary(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
    }


def _channel(i: int) -> str:
    return f"c{i:03d}"


def _observations(channels: int) -> Any:
    """op(ch, k): even k queues a fresh item at the end, odd k deletes it again, so every
    channel's queue stays the demo playlist's size (12 items) plus one."""
    from domain.media import Media
    from domain.queue.commands import ObserveItemDeleted, ObserveItemQueued

    uids = itertools.count(1_000_000)
    pending: dict[int, int] = {}

    def next_observation(ch: int) -> Any:
        uid = pending.pop(ch, None)
        if uid is not None:
            return ObserveItemDeleted(uid)
        uid = next(uids)
        pending[ch] = uid
        return ObserveItemQueued(uid, Media("yt", f"tp-{uid}", "bench", 240))

    return next_observation


async def _seed(observe: Any, channels: int) -> None:
    from adapters.sim.demo import DEMO_PLAYLIST
    from domain.queue.commands import ObservedItem, ObservePlaylist

    items = tuple(ObservedItem(i + 1, m) for i, m in enumerate(DEMO_PLAYLIST))
    for i in range(channels):
        await observe(_channel(i), ObservePlaylist(items, current_uid=1))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import nats

    from adapters.clock import WallClock
    from adapters.log.jetstream_store import JetStreamEventStore
    from application.cytube.observations import PacedObservations
    from application.log.command_handler import CommandHandler, CommandMeta
    from application.log.streams import queue_stream
    from domain.queue.decider import queue_decider

    out: dict[str, Any] = {}
    n = args.channels
    common.count_calls()
    window = {"warmup": args.warmup, "max_ops": args.max_ops}
    with fresh_nats_server() as (url, tmp, nats_pid):
        nc = await nats.connect(url, name="bench-throughput")
        js = nc.jetstream(timeout=10)
        await raw_stream(js)
        store = JetStreamEventStore(nc, stream="BENCHCMD", prefix="bench.ev")
        await store.ensure_stream()
        handler = CommandHandler(store, WallClock(), random=random.Random(7))

        async def handle(channel: str, observation: Any) -> None:
            await handler.handle(
                queue_decider, queue_stream(channel), observation, CommandMeta.new("cytube")
            )

        await _seed(handle, n)
        next_obs = _observations(n)

        async def handler_op(ch: int, k: int) -> None:
            await handle(_channel(ch), next_obs(ch))

        # Size the raw payload on real commits of this very load.
        await timed_loop(n, 1.0, handler_op, warmup=0.5, max_ops=10_000)
        size = await mean_message_size(js, "BENCHCMD", sample=1000)
        out["raw_payload_bytes"] = size
        payload = b"x" * size

        async def raw_op(ch: int, k: int) -> None:
            await js.publish(f"raw.{_channel(ch)}", payload, timeout=10)

        meter = CpuMeter(nats_pid)
        phases: dict[str, Any] = {}

        async def measure(name: str, op: Any) -> None:
            print(f"-- {name} (load average {load_average()})", flush=True)
            meter.restart()
            res = await timed_loop(n, args.seconds, op, **window)
            res.update(meter.used())
            res["load_average_end"] = load_average()
            phases[name] = res
            print(
                f"   {res['per_sec']:.0f}/s, p50 {res['latency_ms']['p50']:.2f} ms, "
                f"p99 {res['latency_ms']['p99']:.2f} ms, errors {res['errors']}",
                flush=True,
            )

        await measure("raw_before", raw_op)
        await measure("handler", handler_op)
        conflicts_handler = handler.conflicts

        async with common.service(tmp / "svc", url, channel=_channel(0), http=False) as (
            services,
            _base,
        ):
            await _seed(services.cytube.observer.observe, n)
            await caught_up(services)
            svc_obs = _observations(n)
            rejected = services.cytube.observer.rejected

            # As Kryten-Robot's reports arrive: paced by the intake while followers lag.
            paced = PacedObservations(services.cytube.observer, services.kernel.intake)
            max_lag = 0

            async def service_op(ch: int, k: int) -> None:
                nonlocal max_lag
                await paced.observe(_channel(ch), svc_obs(ch))
                max_lag = max(max_lag, services.kernel.tail.lag())

            calls = dict(common.CALLS)
            await measure("service", service_op)
            head = await services.kernel.log.events.head()
            lag = {r.projection.name: head - r.position for r in services.runners}
            drain_started = time.perf_counter()
            await caught_up(services, within=600)
            drain = time.perf_counter() - drain_started
            phases["service"].update(meter.used())
            res = phases["service"]
            res["projection_lag_at_end"] = lag
            res["drain_sec"] = round(drain, 3)
            # Everything the service accepted (warm-up included) over the time from the first
            # command until the projections had folded the last one.
            res["load_to_caught_up_sec"] = round(args.warmup + res["wall_sec"] + drain, 3)
            res["sustained_per_sec"] = res["ops_total"] / res["load_to_caught_up_sec"]
            res["observations_refused"] = services.cytube.observer.rejected - rejected
            res["handler_conflicts"] = services.kernel.handler.conflicts
            res["follower_lag_max"] = max_lag
            res["intake_waits"] = services.kernel.intake.waited
            res["intake_max_lag"] = services.kernel.intake.config.max_lag
            res.update(common.calls_since(calls, res["ops_total"]))
        await measure("raw_after", raw_op)
        await nc.close()

    raw_rate = (phases["raw_before"]["per_sec"] + phases["raw_after"]["per_sec"]) / 2
    out["phases"] = phases
    out["raw_mean_per_sec"] = raw_rate
    out["handler_conflicts"] = conflicts_handler
    out["ratios"] = {
        "handler_vs_raw": phases["handler"]["per_sec"] / raw_rate,
        "service_sustained_vs_raw": phases["service"]["sustained_per_sec"] / raw_rate,
    }
    return out


HEADERS = [
    "what",
    "commands",
    "seconds",
    "per s",
    "vs raw",
    "p50 ms",
    "p99 ms",
    "service-process CPU s",
    "nats-server CPU s",
    "errors",
]


def _rows(out: dict[str, Any]) -> list[list[Any]]:
    raw = out["raw_mean_per_sec"]
    labels = {
        "raw_before": "raw js.publish-ack loop (before)",
        "handler": "observations via CommandHandler on JetStream",
        "service": "same via a whole service (projections follow)",
        "raw_after": "raw js.publish-ack loop (after)",
    }
    rows = []
    for key, label in labels.items():
        p = out["phases"][key]
        rate = p.get("sustained_per_sec", p["per_sec"])
        seconds = p.get("load_to_caught_up_sec", p["wall_sec"])
        rows.append(
            [
                label,
                p["ops_total"] if "sustained_per_sec" in p else p["commands"],
                seconds,
                rate,
                rate / raw,
                p["latency_ms"]["p50"],
                p["latency_ms"]["p99"],
                p["service_process_cpu_sec"],
                p["nats_server_cpu_sec"],
                p["errors"],
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--max-ops", type=int, default=200_000, help="cap per phase")
    args = parser.parse_args()
    quiet_logs()
    record = started_record(NAME, vars(args))
    started = time.perf_counter()
    record.update(asyncio.run(run(args)))
    record["load_average_after"] = load_average()
    record["service_log_warnings"] = common.LOG_COUNTER.report()
    record["duration_sec"] = round(time.perf_counter() - started, 1)
    path = write_json(NAME, record)
    print(table(HEADERS, _rows(record), title=f"Throughput over {args.channels} channels"))
    r = record["ratios"]
    print(
        f"handler / raw = {r['handler_vs_raw']:.2f}; "
        f"service (sustained) / raw = {r['service_sustained_vs_raw']:.2f}"
    )
    print(
        f"load average before {record['load_average_before']}, after {record['load_average_after']}"
    )
    print(f"wrote {path.relative_to(common.REPO)} in {record['duration_sec']} s")


if __name__ == "__main__":
    sys.exit(main())
