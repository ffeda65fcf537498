"""One process versus `serve --workers 1`: purchases over HTTP through one front, against a bare
JetStream publish-ack on the same nats-server in the same run.

By default the service is a real `webqueue serve` subprocess in Kryten mode against robot- and
economy-shaped peers on the wire (tests/kryten_wire.py, in this
process), with its data dir's SQLite read models, as the fault tests start it
(tests/e2e/test_fault_instances.py `config`: adds paced 0.05 s apart). Each row is a new
channel on its own stream: buyers in the channel with coins, `clients` closed-loop clients each
posting `POST pay-items` (one new media each) and timing the answer (202). Then, from the first
purchase sent until every purchase is in place on the playlist (the pay flow debited the wallet,
added the media, saw it on the playlist and positioned it): the settled rate. CPU seconds per
process (the front, each worker, the nats-server) are read from /proc over the timed part.

    python bench/bench_workers.py                       # 600 purchases, 16 clients
    python bench/bench_workers.py --ops 200 --clients 8 # a quick look
    python bench/bench_workers.py --cytube sim          # the embedded default instead

`--cytube sim`: `webqueue serve` on its embedded default (its own nats-server, the simulated
channel at `--sim-speed 60` so the pay flow's 2 s add pacing is 33 ms) with and without
`--workers 1`; the worker commands the front's simulator over NATS. The raw figure is the
bench's own nats-server, as in Kryten mode.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import common
import msgspec
import nats
from common import (
    HttpConnection,
    closed_loop,
    fresh_nats_server,
    own_cpu_seconds,
    process_cpu_seconds,
    raw_stream,
    summary,
    table,
    write_json,
)

NAME = "workers"
WORKER_PID = re.compile(r"worker \d+ pid (\d+) up")


async def one_row(
    root: Path, url: str, nc: Any, workers: int, clients: int, ops: int
) -> dict[str, Any]:
    from tests.e2e.test_fault_instances import BUYERS, World, _holds, until
    from tests.e2e.test_fault_workers import writer_is
    from tests.e2e.test_kryten_mode import Peers

    here = root / f"workers-{workers}"
    here.mkdir(parents=True)
    w = World(here, url, 1, Peers(nc), "")  # "": the data dir's own SQLite read models
    await w.start()
    front = w.instance("front", extra=["--workers", str(workers)])
    try:
        await front.up()
        lease = f"channel:{w.peers.channel}"
        if workers == 0:
            await until(lambda: _holds(front, lease), "the service to hold the channel")
        else:

            async def worker_up() -> bool:
                part = (await front.health())["parts"].get("workers", {})
                return part.get("status") == "ok"

            await until(worker_up, "the worker to be up")
        await w.playing(front)
        health = (await front.health())["parts"].get("workers", {}).get("detail", "")
        pids = [front.proc.pid, *(int(p) for p in WORKER_PID.findall(health))]
        boss = w.token("boss", "admin")
        for pid in pids[1:]:
            await until(lambda p=pid: writer_is(front, p, boss), "the worker to take the leases")
        taken: dict[str, tuple[str, str]] = {}
        cpu_before = {pid: process_cpu_seconds(pid) for pid in pids}
        started = time.perf_counter()

        # One lean keep-alive connection per client: this process also plays CyTube's robot
        # and the economy, and httpx's own CPU here would be charged to the service's answers.
        conns = [HttpConnection("127.0.0.1", front.port) for _ in range(clients)]
        path = f"/api/v1/channels/{w.peers.channel}/pay-items"

        async def op(c: int, k: int) -> None:
            n = k * clients + c
            buyer = BUYERS[n % len(BUYERS)]
            body = msgspec.json.encode(
                {"media_type": "cm", "media_id": f"paid{n}-200", "duration_sec": 200,
                 "tier": "queue", "request_id": f"burst-req-{n:03d}"}
            )  # fmt: skip
            status, data = await conns[c].request("POST", path, body, w.tokens[buyer])
            if status != 202:
                raise RuntimeError(f"{status} {data[:100]!r}")
            url = msgspec.json.decode(data)["status_url"]
            taken[f"burst-req-{n:03d}"] = (buyer, url)

        bench_cpu = own_cpu_seconds()
        run = await closed_loop(clients, ops, op, max_seconds=300)
        for conn in conns:
            await conn.close()
        answered = time.perf_counter() - started
        await settled_in_order(front, w, taken)
        await w.at_rest(front, taken)  # one pass: each of them is
        settled = time.perf_counter() - started
        cpu = {pid: round(process_cpu_seconds(pid) - cpu_before[pid], 2) for pid in pids}
        bench_cpu = round(own_cpu_seconds() - bench_cpu, 2)
        conflicts = await front_conflicts(front)
        w.added_once()
        return {
            **_timings(workers, run, len(taken), answered, settled),
            "front_conflict_retries": conflicts,
            "bench_process_cpu_sec": bench_cpu,  # clients, robot and economy peers
            "cpu_sec": {
                "front": cpu[front.proc.pid],
                **{f"worker {k + 1}": cpu[pid] for k, pid in enumerate(pids[1:])},
            },
        }
    finally:
        left = WORKER_PID.findall(await _health_or_empty(front))
        front.kill()
        for pid in left:  # they would stop within a second of the front anyway
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        await front.http.aclose()
        await w.peers.robot.close()
        await w.peers.economy.close()
        # The next row's stream takes the same subjects (`wq.ev.>`): one such stream at a time.
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(w.peers.stream)


def _timings(
    workers: int, run: dict[str, Any], purchases: int, answered: float, settled: float
) -> dict[str, Any]:
    """A row's answers and settling, alike in both modes."""
    return {
        "workers": workers,
        "answer_ms": summary(run["latencies_ms"]),
        "answered_per_sec": run["rate_per_sec"],
        "errors": run["errors"],
        "error_samples": run["error_samples"],
        "purchases": purchases,
        "answered_sec": round(answered, 2),
        "settled_sec": round(settled, 2),
        "settled_per_sec": purchases / settled,
    }


SIM_BUYERS = [f"benchbuyer{i}" for i in range(8)]


async def one_sim_row(root: Path, workers: int, clients: int, ops: int) -> dict[str, Any]:
    """A row on the embedded default: the service's own nats-server and simulated channel."""
    import json

    import httpx

    from adapters.clock import WallClock
    from adapters.identity.tokens import TokenSigner, load_secret
    from tests.e2e.test_fault_instances import AT_REST, until

    data = root / f"sim-workers-{workers}"
    port = common.free_port()
    log_file = root / f"sim-workers-{workers}.log"
    cmd = [sys.executable, "-m", "entrypoints.cli.main", "serve", "--data-dir", str(data),
           "--port", str(port), "--sim-speed", "60", "--admin", "boss",
           "--workers", str(workers)]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=log_file.open("wb"), stderr=asyncio.subprocess.STDOUT
    )
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    worker_pids: list[int] = []
    try:

        async def up() -> bool:
            try:
                health = (await http.get("/health")).json()
            except (httpx.TransportError, ValueError):
                return False
            part = health["parts"].get("workers", {"status": "ok"})
            return bool(health["status"] == "ok" and part["status"] == "ok")

        await until(up, "the service (and its worker) up")
        signer = TokenSigner(load_secret(data, {}))

        def bearer(user: str, role: str) -> dict[str, str]:
            token, _ = signer.issue(user, role, ttl_sec=3600, now=WallClock().now())
            return {"authorization": f"Bearer {token}"}

        admin = bearer("boss", "admin")
        lifted = await http.put(
            "/api/v1/channels/lobby/rules", json={"max_pending_per_viewer": None}, headers=admin
        )
        assert lifted.status_code == 200, lifted.text
        for user in SIM_BUYERS:
            joined = await http.post("/api/v1/sim/lobby/users", json={"name": user}, headers=admin)
            assert joined.status_code == 204, joined.text
            granted = await http.post(
                f"/api/v1/channels/lobby/wallets/{user}/grants",
                json={"amount": 10_000_000},
                headers=admin,
            )
            assert granted.status_code == 201, granted.text
        health = (await http.get("/health")).json()["parts"].get("workers", {}).get("detail", "")
        worker_pids = [int(p) for p in WORKER_PID.findall(health)]
        nats_pid = int(json.loads((data / "nats" / "server.json").read_text())["pid"])
        pids = {"front": proc.pid, **{f"worker {k + 1}": p for k, p in enumerate(worker_pids)},
                "nats-server": nats_pid}  # fmt: skip
        tokens = {u: bearer(u, "viewer") for u in SIM_BUYERS}
        conns = [HttpConnection("127.0.0.1", port) for _ in range(clients)]
        taken: dict[str, str] = {}
        cpu_before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
        started = time.perf_counter()

        async def op(c: int, k: int) -> None:
            n = k * clients + c
            buyer = SIM_BUYERS[n % len(SIM_BUYERS)]
            body = msgspec.json.encode(
                {"media_type": "yt", "media_id": f"fakeBench{n:05d}", "duration_sec": 200,
                 "tier": "queue", "request_id": f"bench-req-{n:05d}"}
            )  # fmt: skip
            for _ in range(50):  # `nothing_playing` between two items: sent again
                status, data = await conns[c].request(
                    "POST", "/api/v1/channels/lobby/pay-items", body, tokens[buyer]
                )
                if status != 422 or b"nothing_playing" not in data:
                    break
            if status != 202:
                raise RuntimeError(f"{status} {data[:100]!r}")
            taken[f"bench-req-{n:05d}"] = msgspec.json.decode(data)["status_url"]

        bench_cpu = own_cpu_seconds()
        run = await closed_loop(clients, ops, op, max_seconds=300)
        for conn in conns:
            await conn.close()
        answered = time.perf_counter() - started
        if not taken:
            raise RuntimeError(f"no purchase was taken: {run['error_samples']}")
        last = max(taken, key=lambda rid: int(rid.rsplit("-", 1)[1]))

        async def placed() -> bool:
            got = (await http.get(taken[last], headers=admin)).json()
            return got.get("status") in AT_REST

        await until(placed, f"{last} in place")
        settled = time.perf_counter() - started
        cpu = {name: round(process_cpu_seconds(pid) - cpu_before[name], 2)
               for name, pid in pids.items()}  # fmt: skip
        return {
            **_timings(workers, run, len(taken), answered, settled),
            "cytube": "sim",
            "bench_process_cpu_sec": round(own_cpu_seconds() - bench_cpu, 2),
            "cpu_sec": cpu,
        }
    finally:
        await http.aclose()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 40)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for pid in worker_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def settled_in_order(front: Any, w: Any, taken: dict[str, tuple[str, str]]) -> None:
    """Until the last purchase taken is in place. A channel's purchases are placed one at a
    time in the order taken, so this is one status read every 0.1 s, not one per purchase
    (which cost the front more CPU than the purchases themselves)."""
    from tests.e2e.test_fault_instances import AT_REST, until

    last = max(taken, key=lambda rid: int(rid.rsplit("-", 1)[1]))
    buyer, status = taken[last]

    async def placed() -> bool:
        got = (await front.http.get(status, headers=w.tokens[buyer])).json()
        return got.get("status") in AT_REST

    await until(placed, f"{last} in place")


async def front_conflicts(front: Any) -> dict[str, float]:
    """Appends of the front refused because the stream had moved, by aggregate (from its
    /metrics): what two writers of one channel's queue stream cost that one process does not."""
    from prometheus_client.parser import text_string_to_metric_families

    text = (await front.http.get("/metrics")).text
    return {
        sample.labels["aggregate"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "webqueue_command_conflicts_total"
    }


async def _health_or_empty(front: Any) -> str:
    try:
        return str((await front.health())["parts"].get("workers", {}).get("detail", ""))
    except Exception:
        return ""


async def raw(nc: Any, clients: int, ops: int) -> dict[str, Any]:
    js = nc.jetstream()
    await raw_stream(js)
    payload = b"x" * 900  # about a purchase's commit

    async def op(c: int, k: int) -> None:
        await js.publish(f"raw.{c}.{k}", payload)

    return await closed_loop(clients, ops, op, max_seconds=60, warmup=5)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--rows", default="0,1", help="worker counts to run, comma-separated (default 0,1)"
    )
    parser.add_argument(
        "--cytube",
        choices=["kryten", "sim"],
        default="kryten",
        help="kryten: against robot- and economy-shaped peers (default); sim: the embedded default",
    )
    args = parser.parse_args()
    record = common.started_record(NAME, vars(args))
    with fresh_nats_server() as (url, root, nats_pid):
        nc = await nats.connect(url)
        raw_before = await raw(nc, args.clients, args.ops)
        rows = []
        for workers in (int(n) for n in args.rows.split(",")):
            if args.cytube == "sim":  # the service's own nats-server, counted in the row
                rows.append(await one_sim_row(root, workers, args.clients, args.ops))
                continue
            start_cpu = process_cpu_seconds(nats_pid)
            row = await one_row(root, url, nc, workers, args.clients, args.ops)
            row["cpu_sec"]["nats-server"] = round(process_cpu_seconds(nats_pid) - start_cpu, 2)
            rows.append(row)
        raw_after = await raw(nc, args.clients, args.ops)
        await nc.close()
    raw_ms = summary(raw_before["latencies_ms"] + raw_after["latencies_ms"])
    record.update(
        rows=rows,
        raw_publish_ack_ms=raw_ms,
        raw_per_sec=(raw_before["rate_per_sec"] + raw_after["rate_per_sec"]) / 2,
        load_average_after=common.load_average(),
    )
    print(
        table(
            ["run", "answer p50 ms", "p99 ms", "answered/s", "settled/s", "CPU s per process"],
            [
                [
                    "1 process" if r["workers"] == 0 else f"front + {r['workers']} worker",
                    r["answer_ms"]["p50"],
                    r["answer_ms"]["p99"],
                    r["answered_per_sec"],
                    r["settled_per_sec"],
                    ", ".join(f"{k} {v}" for k, v in r["cpu_sec"].items())
                    + f", bench {r['bench_process_cpu_sec']}",
                ]
                for r in rows
            ]
            + [["raw publish-ack", raw_ms["p50"], raw_ms["p99"], record["raw_per_sec"], "", ""]],
            title=f"purchases over HTTP ({args.cytube}), {args.clients} clients, {args.ops} each "
            f"(load {record['load_average_before']} before, {record['load_average_after']} after)",
        )
    )
    name = NAME if args.cytube == "kryten" else f"{NAME}_sim"
    print(f"results: {write_json(name, record)}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
