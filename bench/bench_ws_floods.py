"""What floods of client frames and idle sockets do to the service's memory.

Seen before the caps: 60 clients each sending 16 MiB frames pushed the service from 200 MB to
1.4 GB, 660 MB of it kept after they left. This runs the real service in-process (its own
nats-server, HTTP on loopback), measures its resident memory (RSS, from /proc), then lets
`--clients` sockets in a child process (so their own buffers are not counted) each try to send
a `--frame-mib` frame, and measures again once they have gone. Results:
bench/results/ws_floods.json (and ws_floods_uncapped.json with `--frame-cap-mib`, the old
behaviour for comparison).

    python bench/bench_ws_floods.py --clients 60 --frame-mib 16
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import (  # type: ignore[import-not-found]
    caught_up,
    fresh_nats_server,
    quiet_logs,
    service,
    started_record,
    write_json,
)


def rss_peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def flood(url: str, clients: int, frame: bytes) -> dict[str, int]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    outcome = {"closed_1009": 0, "refused": 0, "other": 0}

    async def one() -> None:
        try:
            async with connect(url, max_size=None, write_limit=len(frame) * 2) as ws:
                await ws.recv()
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(frame)
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                key = "closed_1009" if ws.close_code == 1009 else "other"
                outcome[key] += 1
        except InvalidStatus:
            outcome["refused"] += 1

    await asyncio.gather(*(one() for _ in range(clients)))
    return outcome


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from entrypoints.config.settings import HttpLimits

    record = started_record("ws_floods", vars(args))
    with fresh_nats_server() as (url, _root, _pid), tempfile.TemporaryDirectory() as tmp:
        cap = {"ws_max_frame_bytes": args.frame_cap_mib * 1024 * 1024} if args.frame_cap_mib else {}
        limits = HttpLimits(ws_max_per_ip=args.clients + 10, ws_max_connections=10_000, **cap)
        async with service(Path(tmp) / "data", url, http_limits=limits) as (services, base):
            quiet_logs()
            await caught_up(services)
            gc.collect()
            before = rss_mib()
            live = base.replace("http://", "ws://") + "/api/v1/channels/lobby/live"
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--flood-url",
                live,
                "--clients",
                str(args.clients),
                "--frame-mib",
                str(args.frame_mib),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await child.communicate()
            outcome = json.loads(out.decode().strip().splitlines()[-1])
            peak = rss_peak_mib()
            await asyncio.sleep(1)
            gc.collect()
            after = rss_mib()
    record["result"] = {
        "rss_before_mib": round(before, 1),
        "rss_after_mib": round(after, 1),
        "rss_kept_mib": round(after - before, 1),
        "rss_peak_mib": round(peak, 1),
        "sockets": outcome,
    }
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flood-url", help=argparse.SUPPRESS)  # the child: flood this socket
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--frame-mib", type=int, default=16)
    parser.add_argument(
        "--frame-cap-mib",
        type=int,
        default=0,
        help="raise the service's frame cap to this (0: its default), to see the old behaviour",
    )
    args = parser.parse_args()
    if args.flood_url:
        frame = b"x" * (args.frame_mib * 1024 * 1024)
        print(json.dumps(asyncio.run(flood(args.flood_url, args.clients, frame))))
        return
    record = asyncio.run(run(args))
    print(record["result"])
    name = "ws_floods" if not args.frame_cap_mib else "ws_floods_uncapped"
    print(write_json(name, record))


if __name__ == "__main__":
    main()
