"""Latency against concurrency, from the results files, as docs/performance-latency.png.

Left: command latency (p50 dashed, p99 solid) against concurrent clients, each command beside
the raw publish-ack measured in the same process. Right: observation to screen against
connected sockets, with the raw log -> fan-out floor.

    pip install -e '.[bench]'          # matplotlib
    python bench/plot_latency.py       # after bench_command_latency.py and
                                       # bench_observation_to_screen.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
OUT = BENCH.parent / "docs" / "performance-latency.png"

SERIES = [
    ("in_client_process", "http_pay", "request_pay_item, HTTP", "tab:red"),
    ("in_client_process", "nats_pay", "request_pay_item, NATS", "tab:orange"),
    ("in_client_process", "sim_http", "simulator add/delete, HTTP (1 ch.)", "tab:purple"),
    ("in_service_process", "observe", "Observer.observe, in-process", "tab:blue"),
    ("in_client_process", "raw_publish_ack", "raw publish-ack, client process", "tab:gray"),
    ("in_service_process", "raw_publish_ack", "raw publish-ack, service process", "silver"),
]


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> int:
    commands = _load("command_latency")
    screen = _load("observation_to_screen")
    if commands is None and screen is None:
        print("no results yet: run the benchmarks first", file=sys.stderr)
        return 1
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    left, right = axes
    if commands is not None:
        cells = commands["cells"]
        xs = [c["clients"] for c in cells]
        for where, kind, label, color in SERIES:
            p50 = [c[where][kind]["p50"] for c in cells if kind in c[where]]
            p99 = [c[where][kind]["p99"] for c in cells if kind in c[where]]
            left.plot(xs, p99, "-o", color=color, label=f"{label} p99")
            left.plot(xs, p50, "--", color=color, alpha=0.7)
        left.set_xscale("log")
        left.set_yscale("log")
        left.set_xticks(xs, [str(x) for x in xs])
        left.set_xlabel("concurrent clients (closed loop, 10 channels)")
        left.set_ylabel("latency, ms (solid p99, dashed p50)")
        left.set_title("Command latency")
        left.grid(True, which="both", alpha=0.3)
        left.legend(fontsize=7, loc="upper left")
    if screen is not None:
        cells = screen["cells"]
        xs = [c["clients"] for c in cells]
        for mode, label, color in (
            ("service", "webqueue: robot event -> socket", "tab:green"),
            ("raw", "raw: stream -> websockets.broadcast", "tab:gray"),
        ):
            p99s = [c[mode]["both"]["p99"] for c in cells]
            p50s = [c[mode]["both"]["p50"] for c in cells]
            right.plot(xs, p99s, "-o", color=color, label=f"{label} p99")
            right.plot(xs, p50s, "--", color=color, alpha=0.7)
        right.axhline(50, color="tab:red", lw=1, ls=":", label="target p99 50 ms at 1,000")
        right.set_xscale("log")
        right.set_yscale("log")
        right.set_xticks(xs, [str(x) for x in xs])
        right.set_xlabel("connected WebSocket clients")
        right.set_ylabel("latency, ms (solid p99, dashed p50)")
        right.set_title("Observation to screen")
        right.grid(True, which="both", alpha=0.3)
        right.legend(fontsize=7, loc="upper left")
    loads = [
        r[key][0]
        for r in (commands, screen)
        if r is not None
        for key in ("load_average_before", "load_average_after")
        if key in r
    ]
    cpus = (commands or screen or {}).get("machine", {}).get("logical_cores")
    fig.suptitle(
        f"webqueue latency against concurrency ({cpus} shared vCPUs, loopback; 1-min load "
        f"average {min(loads):.1f}-{max(loads):.1f} at the start and end of the runs)",
        fontsize=10,
    )
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
