"""Where the time and the calls go: two traces that explain the benchmark figures.

1. The observation-to-screen path with one socket, stage by stage: the robot's `queue` event is
   published, `Observer.observe` starts and returns (decide + publish-ack), the queue-shadow
   runner gets the commit, `LiveQueues.changed` builds the view from the shadow's memory and
   offers the frame, the frame leaves and arrives; the runner's SQL transaction comes after.
   Times in ms from the publish, median and p90 over the updates. All stamps in one process
   (CLOCK_MONOTONIC).
2. One purchase (`PayService.request`, buyer in the channel, spaced so nothing overlaps): every
   log append (by aggregate, actor, first event), every log read (by the code that asked for
   it) and every SQL write transaction (by projection) the service makes for it, per purchase.

The wrappers stamp or count and change nothing else. Diagnostic, not a benchmark: it runs small.

    python bench/trace_paths.py
"""

from __future__ import annotations

import asyncio
import collections
import statistics
import sys
import time
import traceback
from typing import Any

import common
from common import (
    caught_up,
    fresh_nats_server,
    load_average,
    quiet_logs,
    started_record,
    write_json,
)

NAME = "trace_paths"
STAGES = [
    ("observe:start", "Observer.observe starts (robot event decoded)"),
    ("observe:end", "Observer.observe returns (decided, publish-acked)"),
    ("runner:start", "queue-shadow runner has the commit"),
    ("changed:start", "LiveQueues.changed starts (view built from the shadow's memory)"),
    ("changed:end", "LiveQueues.changed returns (frame offered to every socket)"),
    ("sent", "frame handed to the socket"),
    ("received", "frame received by the client"),
    ("sql_commit:start", "queue-shadow SQL transaction starts (after the fan-out)"),
    ("sql_commit:end", "queue-shadow SQL transaction ends"),
]


def _wrap(cls: Any, name: str, label: str, stamps: dict[str, list[int]], only: Any = None) -> None:
    original = getattr(cls, name)

    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        keep = only is None or only(self, *args)
        if keep:
            stamps[f"{label}:start"].append(time.monotonic_ns())
        result = await original(self, *args, **kwargs)
        if keep:
            stamps[f"{label}:end"].append(time.monotonic_ns())
        return result

    setattr(cls, name, wrapper)


async def trace_screen(updates: int) -> dict[str, Any]:
    import nats
    from bench_observation_to_screen import _robot
    from litestar.connection.websocket import WebSocket
    from websockets.asyncio.client import connect

    from adapters.kryten.inbound import KrytenInbound
    from adapters.sim.demo import DEMO_PLAYLIST
    from adapters.sql.projection_store import SqlProjectionStore
    from application.cytube.observing import Observer
    from application.projections.runner import ProjectionRunner
    from application.queue.live import LiveQueues
    from domain.queue.commands import ObservedItem, ObservePlaylist

    stamps: dict[str, list[int]] = collections.defaultdict(list)
    _wrap(Observer, "observe", "observe", stamps)
    _wrap(
        ProjectionRunner,
        "_commit",
        "runner",
        stamps,
        lambda r, *_: r.projection.name == "queue_shadow",
    )
    _wrap(
        SqlProjectionStore,
        "commit",
        "sql_commit",
        stamps,
        lambda _s, name, *_: name == "queue_shadow",
    )
    _wrap(LiveQueues, "changed", "changed", stamps)
    original_send = WebSocket.send_data

    async def send_data(self: Any, *args: Any, **kwargs: Any) -> None:
        await original_send(self, *args, **kwargs)
        stamps["sent"].append(time.monotonic_ns())

    WebSocket.send_data = send_data  # type: ignore[method-assign]

    rows: list[dict[str, float]] = []
    with fresh_nats_server() as (url, tmp, _pid):
        async with common.service(tmp / "svc", url, channel="lobby") as (services, base):
            items = tuple(ObservedItem(i + 1, m) for i, m in enumerate(DEMO_PLAYLIST))
            await services.cytube.observer.observe("bench", ObservePlaylist(items, current_uid=1))
            inbound = KrytenInbound(
                services.kernel.log.nc, "bench", services.cytube.observer, domain="cytu.be"
            )
            await inbound.start()
            await caught_up(services)
            nc = await nats.connect(url)
            ws = await connect(base.replace("http://", "ws://") + "/api/v1/channels/bench/live")
            await ws.recv()
            for k in range(updates):
                for key in stamps:
                    stamps[key].clear()
                marker = f"wqtrace{k}z"
                event = _robot(
                    "queue",
                    "bench",
                    {
                        "item": {
                            "media": {"id": marker, "type": "yt", "title": "t", "seconds": 240},
                            "uid": 900_000 + k,
                            "temp": False,
                            "queueby": "bench",
                        },
                        "after": len(DEMO_PLAYLIST),
                    },
                )
                t0 = time.monotonic_ns()
                await nc.publish("kryten.events.cytube.bench.queue", event)
                while marker not in await ws.recv():
                    pass
                received = time.monotonic_ns()
                await asyncio.sleep(0.2)  # let the other runners and reactions finish
                row = {
                    key: (stamps[key][0] - t0) / 1e6
                    for key, _ in STAGES
                    if key != "received" and stamps.get(key)
                }
                row["received"] = (received - t0) / 1e6
                rows.append(row)
                await nc.publish(
                    "kryten.events.cytube.bench.delete",
                    _robot("delete", "bench", {"uid": 900_000 + k}),
                )
                while marker in await ws.recv():
                    pass
                await asyncio.sleep(0.2)
            await ws.close()
            await nc.close()
            await inbound.stop()
    out = {}
    for key, label in STAGES:
        values = sorted(r[key] for r in rows if key in r)
        if values:
            out[key] = {
                "what": label,
                "median_ms": round(statistics.median(values), 2),
                "p90_ms": round(values[int(0.9 * (len(values) - 1))], 2),
                "n": len(values),
            }
    return out


async def trace_purchase(purchases: int, pause: float) -> dict[str, Any]:
    from adapters.log.jetstream_store import JetStreamEventStore
    from adapters.sql.projection_store import SqlProjectionStore
    from domain.media import Media

    reads: collections.Counter[str] = collections.Counter()
    appends: collections.Counter[str] = collections.Counter()
    writes: collections.Counter[str] = collections.Counter()
    skip = {"_catch_up", "load", "state", "read_stream", "<listcomp>", "_run", "_run_once", "run"}
    skip |= {"run_forever", "run_until_complete", "wrapper", "_handle"}
    read_stream = JetStreamEventStore.read_stream
    append = JetStreamEventStore.append
    commit = SqlProjectionStore.commit

    async def counted_read(self: Any, stream: Any, after: int = 0) -> Any:
        frames = [f.name for f in reversed(traceback.extract_stack(limit=10)[:-1])]
        reads[" < ".join([f for f in frames if f not in skip][:2])] += 1
        return await read_stream(self, stream, after)

    async def counted_append(self: Any, c: Any, expected: int) -> Any:
        appends[f"{c.stream.aggregate} / {c.actor} / {type(c.events[0]).__name__}"] += 1
        return await append(self, c, expected)

    async def counted_commit(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        writes[name] += 1
        return await commit(self, name, *args, **kwargs)

    JetStreamEventStore.read_stream = counted_read  # type: ignore[method-assign]
    JetStreamEventStore.append = counted_append  # type: ignore[method-assign]
    SqlProjectionStore.commit = counted_commit  # type: ignore[method-assign]
    try:
        with fresh_nats_server() as (url, tmp, _pid):
            async with common.service(tmp / "svc", url, channel="ch0") as (services, _base):
                await caught_up(services)
                await services.cytube.simulator.join("buyer0")
                now = services.kernel.wall_clock.now()
                token = services.identity.signer.issue("buyer0", "viewer", ttl_sec=3600, now=now)[0]
                who = services.identity.signer.verify(token, now=now)
                await asyncio.sleep(1.0)
                for counter in (reads, appends, writes):
                    counter.clear()
                for k in range(purchases):
                    media = Media("yt", f"trace{k}", "t", 300)
                    await services.pay.service.request("ch0", who, media, "queue", None)
                    await asyncio.sleep(pause)
                await asyncio.sleep(0.5)
    finally:
        JetStreamEventStore.read_stream = read_stream  # type: ignore[method-assign]
        JetStreamEventStore.append = append  # type: ignore[method-assign]
        SqlProjectionStore.commit = commit  # type: ignore[method-assign]

    def per(counter: collections.Counter[str]) -> dict[str, float]:
        return {k: round(v / purchases, 2) for k, v in counter.most_common()}

    return {
        "purchases": purchases,
        "log_appends": per(appends),
        "log_reads": per(reads),
        "sql_write_transactions": per(writes),
    }


def main() -> None:
    quiet_logs()
    record = started_record(NAME, {"updates": 40, "purchases": 30, "pause_sec": 0.1})
    record["observation_to_screen_1_socket"] = asyncio.run(trace_screen(40))
    record["one_purchase"] = asyncio.run(trace_purchase(30, 0.1))
    record["load_average_after"] = load_average()
    path = write_json(NAME, record)
    print("Observation to screen, 1 socket (ms after the robot's publish)\n")
    rows = [
        [v["what"], v["median_ms"], v["p90_ms"]]
        for v in record["observation_to_screen_1_socket"].values()
    ]
    print(common.table(["stage", "median ms", "p90 ms"], rows))
    purchase = record["one_purchase"]
    for key in ("log_appends", "log_reads", "sql_write_transactions"):
        rows = [[k, v] for k, v in purchase[key].items()]
        print(common.table([f"{key} per purchase: by", "per purchase"], rows))
    print(
        f"load average before {record['load_average_before']}, after {record['load_average_after']}"
    )
    print(f"wrote {path.relative_to(common.REPO)}")


if __name__ == "__main__":
    sys.exit(main())
