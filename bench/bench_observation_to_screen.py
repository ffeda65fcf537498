"""Observation to screen: from a CyTube event reaching the service to every watching browser
socket holding the new queue.

The service process (this one) runs one real service instance (`running(settings)`, uvicorn,
SQLite read models) on a fresh nats-server, plus the Kryten adapter (`KrytenInbound`) for a
channel `bench` whose playlist was recorded from a robot-style snapshot (the demo playlist). A
client process (this script with `--worker`) plays both the robot and the browsers: it opens N
WebSockets on `/api/v1/channels/bench/live`, then, one at a time, publishes a robot-shaped
`queue` event on `kryten.events.cytube.bench.queue` (exactly what Kryten-Robot publishes) and
times, for every socket, the first frame whose queue holds the new item; then a `delete` event
and the first frame without it. Both clocks are the worker's, so there is no cross-process
clock. The path measured: core NATS -> KrytenInbound -> Observer -> CommandHandler (decide,
JetStream publish-ack) -> ordered consumer -> queue-shadow projection (fold; the change is
announced before its SQLite write) -> LiveQueues (view built from the projection's rows in
memory, encoded to JSON once per change) -> each socket's text frame (the service leaves
permessage-deflate off unless WEBQUEUE_WS_DEFLATE=1, see entrypoints/http/server.py).

The raw figure, same run, same worker, same sockets count: the worker publishes a frame-sized
message (same size as the service's queue frame, holding the marker) into a bare JetStream
stream; a bare ordered push consumer in the service process hands it to
`websockets.broadcast` over N plain `websockets` server connections (permessage-deflate on,
as before, unless `--raw-compression none`). That is the floor of "log -> fan-out to N
sockets" on this machine with these libraries.

Besides the percentiles over every delivery, the service's `sent` stamps are split per robot
event: `first_frame` (publish to the first socket handed its frame: the path before the
fan-out) and `fanout` (first to last socket of that event).

    python bench/bench_observation_to_screen.py                   # full size
    python bench/bench_observation_to_screen.py --clients 1,100 --updates 1:10,100:10
    WEBQUEUE_WS_DEFLATE=1 python bench/bench_observation_to_screen.py   # service compressing
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import common
from common import (
    caught_up,
    free_port,
    fresh_nats_server,
    load_average,
    now_ns,
    quiet_logs,
    raise_open_files,
    read_message,
    spawn_worker,
    started_record,
    summary,
    table,
    write_json,
)

NAME = "observation_to_screen"
CHANNEL = "bench"
MARK = re.compile(r"wqmark(\d+)z")
TARGET_CLIENTS = 1000
TARGET_P99_MS = 50.0
FIRST_UID = 500_000


# ---- the client process (robot + browsers) --------------------------------------------------


async def worker_main() -> None:
    import nats
    from websockets.asyncio.client import connect

    raise_open_files()
    io = common.WorkerIO()
    await io.open()
    cfg = await io.receive()
    n, updates, mode = cfg["clients"], cfg["updates"], cfg["mode"]
    timeout = cfg["update_timeout"]
    nc = await nats.connect(cfg["nats_url"], name="bench-robot")

    seen_at: list[dict[int, int]] = [{} for _ in range(n)]  # per socket: marker -> ns
    gone_at: list[dict[int, int]] = [{} for _ in range(n)]
    present: list[set[int]] = [set() for _ in range(n)]
    first_frame = [asyncio.Event() for _ in range(n)]
    seen_count: dict[int, int] = {}
    gone_count: dict[int, int] = {}
    all_seen: dict[int, asyncio.Event] = {k: asyncio.Event() for k in range(updates)}
    all_gone: dict[int, asyncio.Event] = {k: asyncio.Event() for k in range(updates)}
    frames = [0]

    async def reader(i: int, ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for frame in ws:
                t = now_ns()
                frames[0] += 1
                marks = {int(m) for m in MARK.findall(frame)}
                first_frame[i].set()
                for k in marks - present[i]:
                    if k not in seen_at[i]:
                        seen_at[i][k] = t
                        seen_count[k] = seen_count.get(k, 0) + 1
                        if seen_count[k] == n and k in all_seen:
                            all_seen[k].set()
                for k in present[i] - marks:
                    if k not in gone_at[i]:
                        gone_at[i][k] = t
                        gone_count[k] = gone_count.get(k, 0) + 1
                        if gone_count[k] == n and k in all_gone:
                            all_gone[k].set()
                present[i] = marks

    sockets: list[Any] = []
    tasks: list[asyncio.Task[None]] = []
    connect_started = time.perf_counter()
    sem = asyncio.Semaphore(50)

    async def open_one(i: int) -> None:
        async with sem:
            ws = await connect(cfg["ws_url"], open_timeout=60, max_size=None, ping_interval=None)
            sockets.append(ws)
            tasks.append(asyncio.create_task(reader(i, ws)))
            await asyncio.wait_for(first_frame[i].wait(), 60)

    await asyncio.gather(*(open_one(i) for i in range(n)))
    connect_sec = time.perf_counter() - connect_started

    add_t0: dict[int, int] = {}
    del_t0: dict[int, int] = {}
    missed = 0
    pad = "." * max(0, cfg["frame_bytes"] - 40)
    for k in range(updates):
        uid = FIRST_UID + k
        if mode == "service":
            add = _robot(
                "queue",
                cfg["channel"],
                {
                    "item": {
                        "media": {
                            "id": f"wqmark{k}z",
                            "type": "yt",
                            "title": "bench",
                            "seconds": 240,
                        },
                        "uid": uid,
                        "temp": False,
                        "queueby": "bench",
                    },
                    "after": cfg["after_uid"],
                },
            )
            remove = _robot("delete", cfg["channel"], {"uid": uid})
            subject = f"kryten.events.cytube.{cfg['channel']}"
            add_subject, remove_subject = f"{subject}.queue", f"{subject}.delete"
        else:
            add = json.dumps({"mark": f"wqmark{k}z", "pad": pad}).encode()
            remove = json.dumps({"mark": "none", "pad": pad}).encode()
            add_subject = remove_subject = cfg["raw_subject"]
        for t0s, event, subject, body in (
            (add_t0, all_seen[k], add_subject, add),
            (del_t0, all_gone[k], remove_subject, remove),
        ):
            t0s[k] = now_ns()
            await nc.publish(subject, body)
            await nc.flush()
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                missed += 1
        await asyncio.sleep(cfg["pause"])

    add_ms: list[float] = []
    del_ms: list[float] = []
    spreads: list[float] = []
    for k in range(updates):
        arrivals = [s[k] for s in seen_at if k in s]
        add_ms += [(t - add_t0[k]) / 1e6 for t in arrivals]
        if arrivals:
            spreads.append((max(arrivals) - min(arrivals)) / 1e6)
        del_ms += [(g[k] - del_t0[k]) / 1e6 for g in gone_at if k in g]
    expected = n * updates
    result = {
        "mode": mode,
        "clients": n,
        "updates": updates,
        "connect_sec": round(connect_sec, 2),
        "add": summary(add_ms),
        "delete": summary(del_ms),
        "both": summary(add_ms + del_ms),
        "fanout_spread_ms": summary(spreads),
        "deliveries_missing": 2 * expected - len(add_ms) - len(del_ms),
        "updates_timed_out": missed,
        "frames_received": frames[0],
        "add_t0_ns": add_t0,
        "delete_t0_ns": del_t0,
    }
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    for t in tasks:
        t.cancel()
    await nc.close()
    io.send({"result": result})


def _robot(event: str, channel: str, payload: dict[str, Any]) -> bytes:
    """A Kryten-Robot RawEvent as it publishes it."""
    return json.dumps(
        {
            "event_name": event,
            "payload": payload,
            "channel": channel,
            "domain": "cytu.be",
            "timestamp": time.time(),
            "correlation_id": str(uuid.uuid4()),
        }
    ).encode()


# ---- the service process -------------------------------------------------------------------------

#: When each frame to a socket had been handed to the kernel (CLOCK_MONOTONIC ns), in the
#: service process: stamped after the service's `WebSocket.send_data` returns, and after each
#: connection's write in the raw fan-out, with the frame (a reference: the service hands every
#: socket the same str) to tell which event it answers. One `monotonic_ns()` and one `append`
#: per frame.
SENT: list[tuple[int, str]] = []


def instrument_sends() -> None:
    """Stamp every frame the service sends on a socket (bench-only wrapper, no other change)."""
    from litestar.connection.websocket import WebSocket

    original = WebSocket.send_data

    async def send_data(self: Any, *args: Any, **kwargs: Any) -> None:
        await original(self, *args, **kwargs)
        SENT.append((now_ns(), args[0] if args else kwargs["data"]))

    WebSocket.send_data = send_data  # type: ignore[method-assign]


def sent_latencies(sent: list[tuple[int, str]], result: dict[str, Any]) -> dict[str, Any]:
    """Each stamped send belongs to the robot event its frame shows: a frame holding marker k
    answers "add k", a frame without a marker answers the latest "delete" published before it.
    Its latency is the send time minus that event's publish time. Frames before the first event
    (the state each socket gets on connect) are left out.

    By content, not by time alone: a stamp is taken after the send returns, and on two busy
    vCPUs the client may already have read the frame and published the next event by then."""
    adds = {int(k): t for k, t in result["add_t0_ns"].items()}
    deletes = sorted((t, int(k)) for k, t in result["delete_t0_ns"].items())
    delete_starts = [t for t, _ in deletes]
    marks: dict[int, list[str]] = {}  # by id(frame): the service sends one str to every socket
    out: dict[str, list[float]] = {"add": [], "delete": []}
    per_event: dict[tuple[str, int], list[float]] = {}
    for t, frame in sent:
        found = marks.get(id(frame))
        if found is None:
            found = marks[id(frame)] = MARK.findall(frame)
        if found:
            kind, k = "add", int(found[0])
            t0 = adds.get(k)
        else:
            i = bisect.bisect_right(delete_starts, t) - 1
            if i < 0:
                continue
            kind, k = "delete", deletes[i][1]
            t0 = deletes[i][0]
        if t0 is None or t < t0:
            continue
        ms = (t - t0) / 1e6
        out[kind].append(ms)
        per_event.setdefault((kind, k), []).append(ms)
    return {
        "add": summary(out["add"]),
        "delete": summary(out["delete"]),
        "both": summary(out["add"] + out["delete"]),
        # Per robot event: when its first frame was handed to a socket (the path before the
        # fan-out), and how long handing it to every socket took (first to last).
        "first_frame": summary([min(v) for v in per_event.values()]),
        "fanout": summary([max(v) - min(v) for v in per_event.values()]),
    }


def services_deflate() -> bool:
    """Whether the service's uvicorn negotiates permessage-deflate (as http_server decides)."""
    from entrypoints.http.server import per_message_deflate_default

    return per_message_deflate_default()


class RawFanout:
    """The floor: a bare ordered push consumer on a bare stream, broadcasting each message's
    payload to every connection of a plain `websockets` server."""

    def __init__(self, js: Any, subject: str, first_frame: str, compression: str | None) -> None:
        self._js = js
        self._compression = compression
        self._subject = subject
        self._first = first_frame
        self.connections: set[Any] = set()
        self._server: Any = None
        self._sub: Any = None
        self.port = free_port()

    async def __aenter__(self) -> RawFanout:
        from websockets.asyncio.server import broadcast, serve

        async def handler(ws: Any) -> None:
            self.connections.add(ws)
            try:
                await ws.send(self._first)
                await ws.wait_closed()
            finally:
                self.connections.discard(ws)

        self._server = await serve(
            handler,
            "127.0.0.1",
            self.port,
            max_size=None,
            ping_interval=None,
            compression=self._compression,
        )

        async def on_msg(msg: Any) -> None:
            text = msg.data.decode()
            for ws in list(self.connections):  # broadcast(), one connection at a time
                broadcast([ws], text)
                SENT.append((now_ns(), text))

        self._sub = await self._js.subscribe(self._subject, cb=on_msg, ordered_consumer=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()
        self._server.close()
        await self._server.wait_closed()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import msgspec
    import nats

    from adapters.kryten.inbound import KrytenInbound
    from adapters.sim.demo import DEMO_PLAYLIST
    from domain.queue.commands import ObservedItem, ObservePlaylist

    out: dict[str, Any] = {"cells": []}
    instrument_sends()
    with fresh_nats_server() as (url, tmp, _pid):
        async with common.service(tmp / "svc", url, channel="lobby") as (services, base):
            items = tuple(ObservedItem(i + 1, m) for i, m in enumerate(DEMO_PLAYLIST))
            await services.cytube.observer.observe(CHANNEL, ObservePlaylist(items, current_uid=1))
            inbound = KrytenInbound(
                services.kernel.log.nc, CHANNEL, services.cytube.observer, domain="cytu.be"
            )
            await inbound.start()
            await caught_up(services)
            frame = msgspec.json.encode(await services.queue.queries.queue(CHANNEL))
            out["queue_frame_bytes"] = len(frame)
            out["queue_items"] = len(DEMO_PLAYLIST)

            raw_nc = await nats.connect(url, name="bench-raw-fanout")
            raw_js = raw_nc.jetstream(timeout=10)
            await common.raw_stream(raw_js, name="BENCHLIVE", prefix="rawlive")
            ws_service = base.replace("http://", "ws://") + f"/api/v1/channels/{CHANNEL}/live"
            compression = None if args.raw_compression == "none" else "deflate"
            out["raw_compression"] = args.raw_compression
            out["service_per_message_deflate"] = services_deflate()
            async with RawFanout(raw_js, "rawlive.bench", "x" * len(frame), compression) as raw:
                for clients in args.clients:
                    updates = args.updates.get(clients, 20)
                    cell: dict[str, Any] = {
                        "clients": clients,
                        "load_average_start": load_average(),
                    }
                    print(f"-- {clients} sockets (load average {load_average()})", flush=True)
                    for mode, ws_url in (
                        ("raw", f"ws://127.0.0.1:{raw.port}"),
                        ("service", ws_service),
                    ):
                        worker = await spawn_worker(
                            Path(__file__),
                            {
                                "mode": mode,
                                "clients": clients,
                                "updates": updates,
                                "ws_url": ws_url,
                                "nats_url": url,
                                "channel": CHANNEL,
                                "after_uid": len(DEMO_PLAYLIST),
                                "raw_subject": "rawlive.bench",
                                "frame_bytes": len(frame),
                                "update_timeout": args.update_timeout,
                                "pause": args.pause,
                            },
                        )
                        SENT.clear()
                        result = (await read_message(worker, 1800))["result"]
                        await worker.wait()
                        result["sent"] = sent_latencies(list(SENT), result)
                        del result["add_t0_ns"], result["delete_t0_ns"]
                        cell[mode] = result
                        if mode == "service":
                            await caught_up(services)
                    cell["load_average_end"] = load_average()
                    out["cells"].append(cell)
                    print(table(HEADERS, _rows([cell])), flush=True)
            out["inbound_stats"] = {
                "received": inbound.stats.received,
                "recorded": inbound.stats.recorded,
                "malformed": inbound.stats.malformed,
                "failed": inbound.stats.failed,
            }
            out["observations_refused"] = services.cytube.observer.rejected
            await inbound.stop()
            await raw_nc.close()
    return out


HEADERS = [
    "sockets",
    "updates",
    "deliveries",
    "p50 ms",
    "p99 ms",
    "max ms",
    "raw p50 ms",
    "raw p99 ms",
    "p99 / raw",
    "p99 - raw ms",
    "sent p50 ms",
    "sent p99 ms",
    "raw sent p99 ms",
    "missing",
]


SPLIT_HEADERS = [
    "sockets",
    "events",
    "first frame p50 ms",
    "first frame p99 ms",
    "fan-out p50 ms",
    "fan-out p99 ms",
    "raw fan-out p50 ms",
    "raw fan-out p99 ms",
]


def _split_rows(cells: list[dict[str, Any]]) -> list[list[Any]]:
    """Per robot event, in the service: publish to first socket sent, then first to last."""
    rows = []
    for cell in cells:
        ours, raw = cell["service"]["sent"], cell["raw"]["sent"]
        rows.append(
            [
                cell["clients"],
                ours["first_frame"]["n"],
                ours["first_frame"]["p50"],
                ours["first_frame"]["p99"],
                ours["fanout"]["p50"],
                ours["fanout"]["p99"],
                raw["fanout"]["p50"],
                raw["fanout"]["p99"],
            ]
        )
    return rows


def _rows(cells: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for cell in cells:
        ours, raw = cell["service"]["both"], cell["raw"]["both"]
        rows.append(
            [
                cell["clients"],
                cell["service"]["updates"] * 2,
                ours["n"],
                ours["p50"],
                ours["p99"],
                ours["max"],
                raw["p50"],
                raw["p99"],
                ours["p99"] / raw["p99"] if raw["p99"] else float("nan"),
                ours["p99"] - raw["p99"],
                cell["service"]["sent"]["both"]["p50"],
                cell["service"]["sent"]["both"]["p99"],
                cell["raw"]["sent"]["both"]["p99"],
                cell["service"]["deliveries_missing"],
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clients", default="1,100,1000", help="sockets per level")
    parser.add_argument(
        "--updates",
        default="1:200,100:100,1000:50",
        help="queue changes (each an add, then a delete) per level, as sockets:updates",
    )
    parser.add_argument("--update-timeout", type=float, default=15.0)
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between updates")
    parser.add_argument(
        "--raw-compression",
        choices=("deflate", "none"),
        default="deflate",
        help="permessage-deflate on the raw fan-out's sockets (deflate: as before)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write the JSON result (default bench/results/{NAME}.json)",
    )
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker_main())
        return
    quiet_logs()
    limits = raise_open_files()
    args.clients = [int(x) for x in args.clients.split(",")]
    args.updates = {int(a): int(b) for a, b in (p.split(":") for p in args.updates.split(","))}
    params = {k: v for k, v in vars(args).items() if k not in ("worker", "out")}
    record = started_record(NAME, params)
    record["params"]["open_files_limit"] = list(limits)
    started = time.perf_counter()
    record.update(asyncio.run(run(args)))
    record["load_average_after"] = load_average()
    record["service_log_warnings"] = common.LOG_COUNTER.report()
    record["duration_sec"] = round(time.perf_counter() - started, 1)
    verdicts = []
    for cell in record["cells"]:
        if cell["clients"] == TARGET_CLIENTS:
            p99 = cell["service"]["both"]["p99"]
            verdicts.append(
                {
                    "p99_ms": round(p99, 2),
                    "limit_ms": TARGET_P99_MS,
                    "met": p99 <= TARGET_P99_MS,
                    "by_ms": round(TARGET_P99_MS - p99, 2),
                }
            )
    record["target"] = {
        "rule": f"p99 <= {TARGET_P99_MS} ms at {TARGET_CLIENTS} sockets",
        "verdicts": verdicts,
    }
    if args.out is None:
        path = write_json(NAME, record)
    else:
        path = args.out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(table(HEADERS, _rows(record["cells"]), title="Observation to screen (add + delete)"))
    print(table(SPLIT_HEADERS, _split_rows(record["cells"]), title="Service side, per event"))
    for v in verdicts:
        word = "met" if v["met"] else "MISSED"
        print(f"target {word}: p99 {v['p99_ms']} ms vs {v['limit_ms']} ms ({v['by_ms']:+} ms)")
    print(
        f"load average before {record['load_average_before']}, after {record['load_average_after']}"
    )
    print(f"wrote {path} in {record['duration_sec']} s")


if __name__ == "__main__":
    sys.exit(main())
