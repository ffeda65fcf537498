"""Command latency: a pay command and an observation command against a bare JetStream publish-ack.

What runs where (see docs/performance.md for why):

* The service process (this one): one real service instance (`entrypoints.bootstrap.running`,
  uvicorn, simulated CyTube, local ledger, SQLite read models) on a fresh nats-server, serving
  10 channels: its own (`ch0`, the simulator's) and `ch1`..`ch9`, which exist because
  observations for them were recorded (a full `ObservePlaylist` snapshot each) and which get
  their command subjects from one more `NatsCommands` each. Every background part of the
  service (projection runners, pay flow, promo director, presence monitor) runs as in
  `webqueue serve`.
* Buyer c buys on channel c % 10 and has joined it (a buyer has to be in the channel). Nobody
  has been granted money, so the pay flow declines each purchase (one wallet debit refused,
  one `PaymentDeclined`): the same command and the same payment step as a purchase that goes
  through, without an unbounded queue of adds to CyTube behind it.
* A client process (this script with `--worker`) plays the callers: `POST pay-items` over
  keep-alive HTTP/1.1, `request_pay_item` over NATS request/reply, and the simulator's
  `POST /api/v1/sim/ch0/media` + `DELETE .../media/{uid}` (CyTube queues, then deletes; the
  simulator runs one channel, so this row is one channel only).
* In the service process itself: `Observer.observe` with CyTube `queue`/`delete` observations,
  the call the Kryten adapter makes for each robot message, over all 10 channels.

The raw figure is a bare `js.publish` (publish, wait for the ack) of a payload as large as the
service's mean commit, at the same concurrency over 10 subjects of a second stream on the same
nats-server, timed from the same process as the figure it is compared with (before and after
each measurement, pooled, so a drifting load on a shared machine hits both alike).

Clients are closed-loop: each sends its next command when the previous answer arrives.

    python bench/bench_command_latency.py                 # full size (about 5 minutes)
    python bench/bench_command_latency.py --ops 300 --clients 1,16   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import collections.abc
import contextlib
import itertools
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import common
from common import (
    CpuMeter,
    HttpConnection,
    WorkerIO,
    caught_up,
    closed_loop,
    fresh_nats_server,
    load_average,
    mean_message_size,
    quiet_logs,
    raw_stream,
    read_message,
    send_message,
    service,
    spawn_worker,
    started_record,
    summary,
    table,
    write_json,
)

from domain.rules.config import RulesConfig
from entrypoints.config.settings import IdentityConfig

NAME = "command_latency"
CHANNELS = [f"ch{i}" for i in range(10)]
TARGET_CLIENTS = 16
TARGET_MARGIN_MS = 3.0


def _summary_of(result: dict[str, Any]) -> dict[str, Any]:
    out = summary(result["latencies_ms"])
    out.update(
        {
            k: result[k]
            for k in ("errors", "error_samples", "wall_sec", "rate_per_sec", "hit_time_cap")
        }
    )
    return out


def _pooled(*results: dict[str, Any]) -> dict[str, Any]:
    lat = [x for r in results for x in r["latencies_ms"]]
    wall = sum(r["wall_sec"] for r in results)
    return {
        "latencies_ms": lat,
        "errors": sum(r["errors"] for r in results),
        "error_samples": [s for r in results for s in r["error_samples"]][:5],
        "wall_sec": wall,
        "rate_per_sec": len(lat) / wall if wall else math.nan,
        "hit_time_cap": any(r["hit_time_cap"] for r in results),
    }


async def _raw_publisher(js: Any, payload: bytes) -> Any:
    async def op(c: int, k: int) -> None:
        await js.publish(f"raw.{CHANNELS[c % len(CHANNELS)]}", payload, timeout=10)

    return op


# ---- the client process ----------------------------------------------------------------------


async def worker_main() -> None:
    """Runs one measurement per message: {kind, clients, ops, max_seconds, warmup,
    payload_size} -> {result} with the latencies, so the service process can pool them."""
    import nats

    io = WorkerIO()
    await io.open()
    cfg = await io.receive()
    host, port = cfg["http_host"], cfg["http_port"]
    tokens: list[str] = cfg["tokens"]
    admin = {"authorization": f"Bearer {cfg['admin_token']}"}  # the simulator's controls
    nc = await nats.connect(cfg["nats_url"], name="bench-clients", max_reconnect_attempts=0)
    js = nc.jetstream(timeout=10)
    io.send({"ready": True})
    serial = itertools.count()

    async def measure(msg: dict[str, Any]) -> dict[str, Any]:
        kind, clients = msg["kind"], msg["clients"]
        tag = f"{clients}x{next(serial)}"
        # Fresh keep-alive connections per measurement: uvicorn closes idle ones after 5 s.
        conns = [HttpConnection(host, port) for _ in range(clients)]
        last_uid: dict[int, int] = {}

        async def http_pay(c: int, k: int) -> None:
            ch = CHANNELS[c % len(CHANNELS)]
            body = json.dumps(
                {
                    "media_type": "yt",
                    "media_id": f"h{tag}-{c}-{k}",
                    "duration_sec": 300,
                    "tier": "queue",
                }
            ).encode()
            status, data = await conns[c].request(
                "POST",
                f"/api/v1/channels/{ch}/pay-items",
                body,
                {"authorization": f"Bearer {tokens[c]}"},
            )
            if status != 202:
                raise RuntimeError(f"{status} {data[:120]!r}")

        async def nats_pay(c: int, k: int) -> None:
            ch = CHANNELS[c % len(CHANNELS)]
            body = json.dumps(
                {
                    "token": tokens[c],
                    "media_type": "yt",
                    "media_id": f"n{tag}-{c}-{k}",
                    "duration_sec": 300,
                    "tier": "queue",
                }
            ).encode()
            reply = await nc.request(f"wq.cmd.{ch}.request_pay_item", body, timeout=10)
            answer = json.loads(reply.data)
            if not answer.get("ok"):
                raise RuntimeError(str(answer.get("error"))[:120])

        async def sim_queue_delete(c: int, k: int) -> None:
            uid = last_uid.pop(c, None)
            if uid is None:
                body = json.dumps(
                    {
                        "media_type": "yt",
                        "media_id": f"s{tag}-{c}-{k}",
                        "title": "bench",
                        "duration_sec": 240,
                    }
                ).encode()
                status, data = await conns[c].request("POST", "/api/v1/sim/ch0/media", body, admin)
                if status != 201:
                    raise RuntimeError(f"{status} {data[:120]!r}")
                last_uid[c] = int(json.loads(data)["uid"])
            else:
                status, data = await conns[c].request(
                    "DELETE", f"/api/v1/sim/ch0/media/{uid}", headers=admin
                )
                if status not in (200, 204):
                    raise RuntimeError(f"{status} {data[:120]!r}")

        ops = {
            "raw": await _raw_publisher(js, b"x" * msg.get("payload_size", 400)),
            "http_pay": http_pay,
            "nats_pay": nats_pay,
            "sim_http": sim_queue_delete,
        }
        result = await closed_loop(
            clients,
            msg["ops"],
            ops[kind],
            max_seconds=msg["max_seconds"],
            warmup=msg["warmup"],
            pause=msg.get("pause", 0.0),
        )
        for conn in conns:
            await conn.close()
        return result

    while True:
        try:
            msg = await io.receive()
        except EOFError:
            break
        if msg.get("stop"):
            break
        io.send({"result": await measure(msg)})
    await nc.close()


# ---- the service process ---------------------------------------------------------------------


async def _seed_channels(services: Any) -> None:
    """ch1..ch9: a CyTube snapshot each (the demo playlist, first item playing), recorded the
    way the robot's `playlist` report is; ch0 is the simulator's own, seeded by the service."""
    from adapters.sim.demo import DEMO_PLAYLIST
    from domain.queue.commands import ObservedItem, ObservePlaylist

    items = tuple(ObservedItem(i + 1, m) for i, m in enumerate(DEMO_PLAYLIST))
    for ch in CHANNELS[1:]:
        await services.cytube.observer.observe(ch, ObservePlaylist(items, current_uid=1))


async def _join_buyers(services: Any, buyers: int) -> None:
    """Buyer c buys on channel c % 10 and is in that channel, as a buyer has to be (one who is
    not gets an owner-away window and, after the grace period, a refund): on ch0 they join the
    simulator, elsewhere their `addUser` is recorded as the robot reports it."""
    from domain.presence.model import ObservedUser, ObserveUserJoined

    for c in range(buyers):
        ch, name = CHANNELS[c % len(CHANNELS)], f"buyer{c}"
        if ch == CHANNELS[0]:
            await services.cytube.simulator.join(name)
        else:
            await services.cytube.observer.observe(
                ch, ObserveUserJoined(ObservedUser(name, 1, False))
            )


async def _quiesce(services: Any, within: float = 120.0) -> float:
    """Let a measurement's background work finish (projections caught up, no purchase being
    driven) so it does not spill into the next one; returns how long that took (s)."""
    started = time.perf_counter()
    await caught_up(services, within)
    deadline = time.monotonic() + within
    while services.pay.flow.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await caught_up(services, within)
    return round(time.perf_counter() - started, 3)


def _with_cost(
    result: dict[str, Any], cpu: dict[str, float], quiesce: float, calls: dict[str, int]
) -> dict[str, Any]:
    """The summary, plus what the commands cost from the first command until the background
    work they caused had finished, per command: CPU of the service process and nats-server,
    and the service's calls into the log and the read models."""
    out = _summary_of(result)
    ops = max(1, result["ops_total"])
    out.update(common.calls_since(calls, ops))
    out.update(cpu)
    out["background_tail_sec"] = quiesce
    out["service_cpu_ms_per_cmd"] = round(cpu["service_process_cpu_sec"] * 1000 / ops, 3)
    out["nats_cpu_ms_per_cmd"] = round(cpu["nats_server_cpu_sec"] * 1000 / ops, 3)
    return out


def _loop_thread_cpu() -> float:
    """CPU seconds of the event loop's thread alone (the rest of the process's CPU is its
    threads: SQLite's, the ledger's, the resolver's)."""
    return time.thread_time()


class _Timed(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A task's coroutine, charging the loop thread's CPU of each of its steps to a name."""

    __slots__ = ("_book", "_coro", "_name")

    def __init__(self, coro: Any, name: str, book: dict[str, float]) -> None:
        self._coro, self._name, self._book = coro, name, book

    def _step(self, call: Any, *a: Any) -> Any:
        start = time.thread_time()
        try:
            return call(*a)
        finally:
            self._book[self._name] = self._book.get(self._name, 0.0) + time.thread_time() - start

    def send(self, value: Any) -> Any:
        return self._step(self._coro.send, value)

    def throw(self, *a: Any) -> Any:
        return self._step(self._coro.throw, *a)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Any:
        return self._coro.__await__()


class TaskCpu:
    """Installed as the loop's task factory before the service starts: every task's steps are
    timed on the loop thread's CPU clock and charged to what the task runs (a projection
    runner by its projection), so the loop's CPU splits by component; what no task of ours
    runs (protocol callbacks, the selector) is the loop's CPU less the tasks' sum."""

    def __init__(self) -> None:
        self.book: dict[str, float] = {}

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
            return asyncio.Task(_Timed(coro, self._name(coro), self.book), loop=loop, **kw)

        loop.set_task_factory(factory)  # type: ignore[arg-type]

    @staticmethod
    def _name(coro: Any) -> str:
        name = getattr(coro, "__qualname__", type(coro).__name__)
        frame = getattr(coro, "cr_frame", None)
        module = frame.f_globals.get("__name__", "?") if frame is not None else "?"
        self_ = frame.f_locals.get("self") if frame is not None else None
        if type(self_).__name__ == "Supervised":
            return f"part {self_.name}"  # type: ignore[union-attr]
        projection = getattr(getattr(self_, "projection", None), "name", None)
        if projection is not None:
            return f"projection {projection}"
        if module.startswith("nats"):
            return "nats client (" + name.rsplit(".", 1)[-1] + ")"
        if module.startswith("uvicorn") or module.startswith("litestar"):
            return "HTTP (uvicorn/litestar)"
        return f"{module}:{name}"

    def snapshot(self) -> dict[str, float]:
        return dict(self.book)


@contextlib.contextmanager
def _profiled(directory: str | None, name: str) -> Iterator[None]:
    """cProfile of the service's event-loop thread, timed by that thread's CPU clock (so time
    spent waiting is not counted), written to DIRECTORY/NAME.prof; nothing when no directory."""
    if not directory:
        yield
        return
    import cProfile

    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        Path(directory).mkdir(parents=True, exist_ok=True)
        prof.dump_stats(str(Path(directory) / f"{name}.prof"))


async def run(args: argparse.Namespace, record: dict[str, Any]) -> dict[str, Any]:
    import nats

    from domain.media import Media
    from domain.queue.commands import ObserveItemDeleted, ObserveItemQueued
    from entrypoints.nats_commands import NatsCommands

    out: dict[str, Any] = {"cells": []}
    common.count_calls()
    task_cpu = TaskCpu()
    if args.by_task:  # it adds a little work to every task step: off unless asked for
        task_cpu.install(asyncio.get_running_loop())
    with fresh_nats_server() as (url, tmp, nats_pid):
        # The simulator's controls need an admin the facts know (not only an admin token).
        admins = IdentityConfig(admins=("bench-admin",))
        # Every buyer fires purchase after purchase, faster than the pay flow declines them:
        # the default limit of 2 waiting per viewer would refuse most (the rules still run).
        rules = RulesConfig(max_pending_per_viewer=None)
        async with service(
            tmp / "svc",
            url,
            channel=CHANNELS[0],
            identity=admins,
            rules=rules,
            http_parser=args.http_parser,
        ) as (
            services,
            base,
        ):
            await _seed_channels(services)
            extra = [NatsCommands(services.kernel.log.nc, services, ch) for ch in CHANNELS[1:]]
            for cmd in extra:
                await cmd.start()
            await caught_up(services)
            known = set(await services.queue.queries.channels())
            assert set(CHANNELS) <= known, f"channels not in the shadow: {set(CHANNELS) - known}"

            await _join_buyers(services, max(*args.clients, 10))
            now = services.kernel.wall_clock.now()
            tokens = [
                services.identity.signer.issue(f"buyer{c}", "viewer", ttl_sec=7200, now=now)[0]
                for c in range(max(*args.clients, 10))
            ]
            raw_nc = await nats.connect(url, name="bench-raw-in-service-process")
            raw_js = raw_nc.jetstream(timeout=10)
            await raw_stream(raw_js)

            uids = itertools.count(1_000_000)
            last_uid: dict[int, int] = {}
            rejected_before = services.cytube.observer.rejected

            async def observe(c: int, k: int) -> None:
                ch = CHANNELS[c % len(CHANNELS)]
                uid = last_uid.pop(c, None)
                if uid is None:
                    uid = next(uids)
                    media = Media("yt", f"obs-{uid}", "bench", 240)
                    await services.cytube.observer.observe(ch, ObserveItemQueued(uid, media))
                    last_uid[c] = uid
                else:
                    await services.cytube.observer.observe(ch, ObserveItemDeleted(uid))

            worker = await spawn_worker(
                Path(__file__),
                {
                    "http_host": "127.0.0.1",
                    "http_port": int(base.rsplit(":", 1)[1]),
                    "nats_url": url,
                    "tokens": tokens,
                    "admin_token": services.identity.signer.issue(
                        "bench-admin", "admin", ttl_sec=7200, now=now
                    )[0],
                },
            )
            assert (await read_message(worker, 60)).get("ready")

            async def remote(
                kind: str, clients: int, ops: int, warmup: int, size: int, pause: float = 0.0
            ) -> Any:
                await send_message(
                    worker,
                    {
                        "kind": kind,
                        "clients": clients,
                        "ops": ops,
                        "max_seconds": args.max_seconds,
                        "warmup": warmup,
                        "payload_size": size,
                        "pause": pause,
                    },
                )
                return (await read_message(worker))["result"]

            # Warm every path (and fill the log with real commits to size the raw payload).
            warm = {"observe": await closed_loop(10, 200, observe, max_seconds=30)}
            for kind in KINDS_REMOTE:
                warm[kind] = await remote(kind, 10, 200, 0, 400)
            for kind, res in warm.items():
                assert res["errors"] == 0, (kind, res["error_samples"])
            await _quiesce(services)
            size = await mean_message_size(
                raw_js, services.kernel.log.events.stream_name, sample=600
            )
            out["raw_payload_bytes"] = size
            raw_op = await _raw_publisher(raw_js, b"x" * size)
            meter = CpuMeter(nats_pid)
            # What the service burns doing nothing (timers, leases, heartbeats), for scale.
            await asyncio.sleep(3.0)
            idle = meter.used()
            idle_ms = round(idle["service_process_cpu_sec"] * 1000 / 3, 2)
            out["idle_service_cpu_ms_per_sec"] = idle_ms
            print(f"idle service CPU: {out['idle_service_cpu_ms_per_sec']} ms/s", flush=True)

            if args.spaced_ops:
                # One client, each command once the previous one's background work is done:
                # what the command path costs on its own, without the work of its neighbours.
                spaced, pause = args.spaced_ops, args.spaced_pause
                print(f"-- 1 client, spaced {pause}s (load average {load_average()})", flush=True)
                cell = {"clients": 1, "label": f"1, spaced {pause * 1000:.0f} ms"}
                cell["load_average_start"] = load_average()
                raw_a = await closed_loop(1, spaced, raw_op, max_seconds=300, pause=pause)
                calls = dict(common.CALLS)
                meter.restart()
                obs = await closed_loop(1, spaced, observe, max_seconds=300, pause=pause)
                quiet = await _quiesce(services)
                cell["in_service_process"] = {
                    "observe": _with_cost(obs, meter.used(), quiet, calls),
                    "raw_publish_ack": _summary_of(raw_a),
                }
                side = {
                    "raw_publish_ack": _summary_of(await remote("raw", 1, spaced, 0, size, pause))
                }
                for kind in ("http_pay", "nats_pay"):
                    calls = dict(common.CALLS)
                    meter.restart()
                    res = await remote(kind, 1, spaced, 0, size, pause)
                    quiet = await _quiesce(services)
                    side[kind] = _with_cost(res, meter.used(), quiet, calls)
                cell["in_client_process"] = side
                cell["load_average_end"] = load_average()
                out["spaced"] = cell
                _print_cell(cell)

            for clients in args.clients:
                warmup = max(1, args.warmup // clients)
                cap = args.max_seconds
                print(f"-- {clients} clients (load average {load_average()})", flush=True)
                cell: dict[str, Any] = {"clients": clients, "load_average_start": load_average()}
                # In the service process: raw, observation, raw (raw pooled).
                raw_a1 = await closed_loop(
                    clients, args.ops, raw_op, max_seconds=cap, warmup=warmup
                )
                meter.restart()
                calls = dict(common.CALLS)
                obs = await closed_loop(clients, args.ops, observe, max_seconds=cap, warmup=warmup)
                quiet = await _quiesce(services)
                obs_cost = _with_cost(obs, meter.used(), quiet, calls)
                raw_a2 = await closed_loop(clients, args.ops, raw_op, max_seconds=cap)
                cell["in_service_process"] = {
                    "observe": obs_cost,
                    "raw_publish_ack": _summary_of(_pooled(raw_a1, raw_a2)),
                }
                # In the client process: raw, HTTP pay, NATS pay, simulator, raw (raw pooled).
                side: dict[str, Any] = {}
                raw_b1 = await remote("raw", clients, args.ops, warmup, size)
                for kind in KINDS_REMOTE:
                    meter.restart()
                    calls = dict(common.CALLS)
                    loop_cpu = _loop_thread_cpu()
                    booked = task_cpu.snapshot()
                    with _profiled(args.profile, f"{kind}_{clients}"):
                        res = await remote(kind, clients, args.ops, warmup, size)
                        quiet = await _quiesce(services)
                    side[kind] = _with_cost(res, meter.used(), quiet, calls)
                    ops_n = max(1, res["ops_total"])
                    per_cmd = (_loop_thread_cpu() - loop_cpu) * 1000 / ops_n
                    side[kind]["loop_thread_cpu_ms_per_cmd"] = round(per_cmd, 3)
                    split: dict[str, float] = (
                        {}
                        if not args.by_task
                        else {
                            k: round((v - booked.get(k, 0.0)) * 1000 / ops_n, 3)
                            for k, v in task_cpu.snapshot().items()
                            if v - booked.get(k, 0.0) > 0
                        }
                    )
                    if args.by_task:
                        split["loop itself (callbacks, selector; no task)"] = round(
                            per_cmd - sum(split.values()), 3
                        )
                        side[kind]["loop_cpu_ms_per_cmd_by_task"] = dict(
                            sorted(split.items(), key=lambda kv: -kv[1])
                        )
                raw_b2 = await remote("raw", clients, args.ops, 0, size)
                side["raw_publish_ack"] = _summary_of(_pooled(raw_b1, raw_b2))
                cell["in_client_process"] = side
                cell["load_average_end"] = load_average()
                out["cells"].append(cell)
                _print_cell(cell)

            await send_message(worker, {"stop": True})
            await worker.wait()
            for cmd in extra:
                await cmd.stop()
            out["service_counters"] = {
                "observations_refused": services.cytube.observer.rejected - rejected_before,
                "handler_conflicts": services.kernel.handler.conflicts,
                "log_head": await services.kernel.log.events.head(),
                "pay_outcomes": dict(services.pay.flow.outcomes),
            }
            await raw_nc.close()
    return out


KINDS_REMOTE = ("http_pay", "nats_pay", "sim_http")


ROWS = [
    ("observe", "in_service_process", "Observer.observe (CyTube queue/delete), in-process"),
    ("http_pay", "in_client_process", "request_pay_item over HTTP POST"),
    ("nats_pay", "in_client_process", "request_pay_item over NATS request/reply"),
    ("sim_http", "in_client_process", "simulator POST/DELETE media (1 channel) over HTTP"),
]


def _rows(cells: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for kind, where, label in ROWS:
        for cell in cells:
            side = cell[where]
            if kind not in side:
                continue
            ours, raw = side[kind], side["raw_publish_ack"]
            rows.append(
                [
                    label,
                    cell.get("label", cell["clients"]),
                    ours["n"],
                    ours["p50"],
                    ours["p99"],
                    ours["p99.9"],
                    raw["p50"],
                    raw["p99"],
                    ours["p99"] / raw["p99"] if raw["p99"] else math.nan,
                    ours["p99"] - raw["p99"],
                    ours["rate_per_sec"],
                    ours["service_cpu_ms_per_cmd"],
                    ours["errors"],
                ]
            )
    return rows


HEADERS = [
    "command (path)",
    "clients",
    "n",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "raw p50 ms",
    "raw p99 ms",
    "p99 / raw",
    "p99 - raw ms",
    "cmd/s",
    "svc CPU ms/cmd",
    "errors",
]


def _print_cell(cell: dict[str, Any]) -> None:
    print(table(HEADERS, _rows([cell])), flush=True)


def _verdicts(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for cell in cells:
        if cell["clients"] != TARGET_CLIENTS:
            continue
        for kind, where, label in ROWS:
            side = cell[where]
            if kind not in side:
                continue
            ours, raw = side[kind]["p99"], side["raw_publish_ack"]["p99"]
            limit = raw + TARGET_MARGIN_MS
            out.append(
                {
                    "command": label,
                    "p99_ms": round(ours, 3),
                    "raw_p99_ms": round(raw, 3),
                    "limit_ms": round(limit, 3),
                    "met": ours <= limit,
                    "by_ms": round(limit - ours, 3),
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clients", default="1,16,128", help="concurrency levels")
    parser.add_argument("--ops", type=int, default=3000, help="timed commands per measurement")
    parser.add_argument("--warmup", type=int, default=128, help="untimed commands per level")
    parser.add_argument("--max-seconds", type=float, default=45.0, help="time cap per measurement")
    parser.add_argument(
        "--spaced-ops", type=int, default=200, help="commands of the spaced 1-client run (0: none)"
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="DIR",
        help="write a cProfile (loop thread, CPU clock) of each remote row to DIR/KIND_N.prof",
    )
    parser.add_argument(
        "--by-task",
        action="store_true",
        help="split the loop thread's CPU per command by task (times every task step)",
    )
    parser.add_argument("--spaced-pause", type=float, default=0.1, help="seconds between them")
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="the service process's event loop (the client process keeps asyncio's)",
    )
    parser.add_argument(
        "--http-parser",
        choices=["auto", "h11", "httptools"],
        default="auto",
        help="uvicorn's HTTP parser in the service (auto: httptools when installed)",
    )
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker_main())
        return
    quiet_logs()
    args.clients = [int(x) for x in args.clients.split(",")]
    record = started_record(NAME, {k: v for k, v in vars(args).items() if k != "worker"})
    record["params"]["channels"] = CHANNELS
    started = time.perf_counter()
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    record.update(asyncio.run(run(args, record)))
    record["load_average_after"] = load_average()
    record["service_log_warnings"] = common.LOG_COUNTER.report()
    record["duration_sec"] = round(time.perf_counter() - started, 1)
    record["target"] = {
        "rule": f"p99 of a command <= raw publish-ack p99 + {TARGET_MARGIN_MS} ms "
        f"at {TARGET_CLIENTS} clients",
        "verdicts": _verdicts(record["cells"]),
    }
    path = write_json(NAME, record)
    cells = ([record["spaced"]] if "spaced" in record else []) + record["cells"]
    print(table(HEADERS, _rows(cells), title="Command latency (all levels)"))
    for v in record["target"]["verdicts"]:
        word = "met" if v["met"] else "MISSED"
        print(
            f"target {word}: {v['command']}: p99 {v['p99_ms']:.2f} ms vs limit "
            f"{v['limit_ms']:.2f} ms ({v['by_ms']:+.2f} ms)"
        )
    print(
        f"load average before {record['load_average_before']}, after {record['load_average_after']}"
    )
    print(f"wrote {path.relative_to(common.REPO)} in {record['duration_sec']} s")


if __name__ == "__main__":
    sys.exit(main())
