"""The HTTP path's own cost: uvicorn with h11 or httptools, on asyncio's loop or uvloop.

A server process runs a Litestar app with one small JSON route behind uvicorn, with the same
protocol classes `webqueue serve` uses (the header deadline of entrypoints/http/limits.py), on
the loop and parser asked for. This process is the client: `--clients` keep-alive connections
(bench/common.py's minimal HTTP/1.1 client), closed loop. Per combination: requests a second,
p50/p99, and the server process's CPU per request (read from the server itself before and
after), which moves much less than latency with other work on the machine. The combinations
run in turn, `--rounds` times, so a drifting load hits each alike.

    python bench/bench_http_stack.py                      # 2 rounds, 1 and 16 clients
    python bench/bench_http_stack.py --requests 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import common
from common import HttpConnection, free_port, load_average, started_record, table, write_json

NAME = "http_stack"
COMBOS = [("asyncio", "h11"), ("asyncio", "httptools"), ("uvloop", "h11"), ("uvloop", "httptools")]


def serve(loop: str, parser: str, port: int) -> None:
    import uvicorn
    from litestar import Litestar, get

    from entrypoints.config.settings import HttpLimits
    from entrypoints.http.limits import guarded_protocol

    @get("/ping")
    async def ping() -> dict[str, Any]:
        return {"ok": True, "channel": "ch0", "position": 1234, "items": [1, 2, 3]}

    @get("/cpu")
    async def cpu() -> dict[str, float]:
        return {"cpu": time.process_time()}

    app = Litestar([ping, cpu], logging_config=None)
    if loop == "uvloop":
        import uvloop

        uvloop.install()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=guarded_protocol(HttpLimits(), parser),
        loop="none",
        lifespan="off",
    )
    asyncio.run(uvicorn.Server(config).serve())


async def measure(
    loop: str, parser: str, clients: int, requests: int, warmup: int
) -> dict[str, Any]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", loop, parser, str(port)
    )
    try:
        probe = HttpConnection("127.0.0.1", port)
        deadline = time.monotonic() + 30
        while True:
            try:
                await probe.request("GET", "/ping")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        conns = [HttpConnection("127.0.0.1", port) for _ in range(clients)]
        for conn in conns:
            for _ in range(warmup):
                await conn.request("GET", "/ping")
        cpu0 = float((await _json(probe, "/cpu"))["cpu"])
        latencies: list[float] = []
        per = max(requests // clients, 1)

        async def client(conn: HttpConnection) -> None:
            for _ in range(per):
                t0 = time.perf_counter()
                status, _ = await conn.request("GET", "/ping")
                latencies.append(time.perf_counter() - t0)
                assert status == 200

        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in conns))
        took = time.perf_counter() - started
        cpu1 = float((await _json(probe, "/cpu"))["cpu"])
        for conn in [probe, *conns]:
            await conn.close()
    finally:
        proc.terminate()
        await proc.wait()
    latencies.sort()
    n = len(latencies)
    return {
        "loop": loop,
        "parser": parser,
        "clients": clients,
        "n": n,
        "per_sec": round(n / took),
        "p50_ms": round(latencies[n // 2] * 1000, 3),
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 3),
        # The /cpu read itself is one request among n: negligible.
        "server_cpu_us_per_request": round((cpu1 - cpu0) / n * 1e6, 1),
    }


async def _json(conn: HttpConnection, path: str) -> dict[str, Any]:
    import json

    status, body = await conn.request("GET", path)
    assert status == 200, status
    data: dict[str, Any] = json.loads(body)
    return data


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cells: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        for clients in args.clients:
            for loop, parser in COMBOS:
                cell = await measure(loop, parser, clients, args.requests, args.warmup)
                cell["round"] = round_ + 1
                cell["load_average"] = load_average()
                cells.append(cell)
                print(
                    f"  round {round_ + 1} {loop:>7} {parser:>9} x{clients}: "
                    f"{cell['per_sec']:,}/s p50 {cell['p50_ms']} ms p99 {cell['p99_ms']} ms "
                    f"cpu {cell['server_cpu_us_per_request']} us/req",
                    flush=True,
                )
    summary = []
    for clients in args.clients:
        for loop, parser in COMBOS:
            mine = [
                c
                for c in cells
                if (c["loop"], c["parser"], c["clients"]) == (loop, parser, clients)
            ]
            summary.append(
                {
                    "loop": loop,
                    "parser": parser,
                    "clients": clients,
                    "per_sec": round(statistics.median(c["per_sec"] for c in mine)),
                    "p50_ms": statistics.median(c["p50_ms"] for c in mine),
                    "p99_ms": statistics.median(c["p99_ms"] for c in mine),
                    "server_cpu_us_per_request": statistics.median(
                        c["server_cpu_us_per_request"] for c in mine
                    ),
                }
            )
    return {"cells": cells, "summary": summary}


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    args.clients = [int(x) for x in args.clients.split(",")]
    record = started_record(NAME, vars(args))
    record.update(asyncio.run(run(args)))
    record["load_average_after"] = load_average()
    path = write_json(NAME, record)
    headers = ["loop", "parser", "clients", "req/s", "p50 ms", "p99 ms", "server CPU us/req"]
    rows = [
        [
            s["loop"],
            s["parser"],
            s["clients"],
            f"{s['per_sec']:,}",
            f"{s['p50_ms']:.2f}",
            f"{s['p99_ms']:.2f}",
            f"{s['server_cpu_us_per_request']:.0f}",
        ]
        for s in record["summary"]
    ]
    print(table(headers, rows, title=f"HTTP stack, median of {args.rounds} rounds"))
    print(
        f"load average before {record['load_average_before']}, after {record['load_average_after']}"
    )
    print(f"wrote {path.relative_to(common.REPO)} (cpus: {os.cpu_count()}; {Path(__file__).name})")


if __name__ == "__main__":
    main()
