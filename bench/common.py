"""Shared pieces of the benchmarks: a fresh nats-server, the service in-process, percentiles,
tables, JSON results, machine facts, and the helper processes that play the clients.

Every benchmark runs on loopback only, starts its own nats-server in a temporary directory and
removes it afterwards. Results go to `bench/results/NAME.json` (relative to this file).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
if str(REPO) not in sys.path:  # `python bench/x.py` from anywhere
    sys.path.insert(0, str(REPO))

from adapters.nats.embedded_server import EmbeddedNatsServer, find_nats_server_binary  # noqa: E402

# ---- time and statistics -------------------------------------------------------------------


def now_ns() -> int:
    """CLOCK_MONOTONIC in ns: on Linux the same clock in every process, so a time taken in the
    service's process and one taken in a client process can be subtracted."""
    return time.monotonic_ns()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summary(values_ms: Sequence[float]) -> dict[str, float]:
    """Count, mean and the percentiles we report, in milliseconds."""
    s = sorted(values_ms)
    n = len(s)
    return {
        "n": n,
        "mean": (sum(s) / n) if n else math.nan,
        "p50": percentile(s, 50),
        "p90": percentile(s, 90),
        "p99": percentile(s, 99),
        "p99.9": percentile(s, 99.9),
        "max": s[-1] if s else math.nan,
    }


def ratio(ours: float, raw: float) -> float:
    return ours / raw if raw and not math.isnan(raw) else math.nan


# ---- output ----------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A Markdown table (pipes), readable in a terminal and pasteable into the docs."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    right = [any(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    sep = (
        "| "
        + " | ".join(
            ("-" * (w - 1) + ":") if r else "-" * w for w, r in zip(widths, right, strict=True)
        )
        + " |"
    )
    out = [line(headers), sep, *(line(r) for r in cells)]
    text = "\n".join(out)
    return f"{title}\n\n{text}\n" if title else text + "\n"


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data.setdefault("nats_server_warnings", SERVER_WARNINGS)
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    return path


# ---- the machine -------------------------------------------------------------------------------


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def nats_server_version() -> str:
    try:
        out = subprocess.run(
            [find_nats_server_binary(), "--version"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or out.stderr.strip()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the numbers were measured on; no paths, no host names."""
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "nats_server": nats_server_version(),
        "libraries": {
            d: _version(d)
            for d in (
                "nats-py",
                "litestar",
                "uvicorn",
                "websockets",
                "SQLAlchemy",
                "aiosqlite",
                "msgspec",
            )
        },
        "event_loop": "asyncio (default selector loop, as `webqueue serve` runs)",
    }


def source() -> dict[str, Any]:
    """Which code was measured: the commit, and the files that differed from it."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
            )
            return out.stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line.strip()]
    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return {"head": head, "uncommitted": changed}


def started_record(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchmark": name,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": params,
        "source": source(),
        "machine": machine(),
        "load_average_before": load_average(),
    }


def raise_open_files(want: int = 65536) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE as far as the hard limit allows; returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- nats-server and the service ------------------------------------------------------------


@contextlib.contextmanager
def fresh_nats_server() -> Iterator[tuple[str, Path, int]]:
    """A new nats-server with JetStream (file store) in a temporary directory:
    (url, temp dir, server pid). The directory, store included, is gone afterwards."""
    # The server runs in its own session: on SIGTERM (say, from `timeout`) unwind, so it is
    # stopped and the directory removed, instead of dying and leaving the server behind.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="wq-bench-") as tmp:
            root = Path(tmp)
            server = EmbeddedNatsServer(root / "log", auth=False)  # open: bench clients connect raw
            url = server.start()
            try:
                yield url, root, int(server.pid or 0)
            finally:
                server.stop()
                warnings = _warnings_in(server.log_file)
                SERVER_WARNINGS.extend(warnings)
                for line in warnings[-10:]:
                    print(f"nats-server: {line}", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)


SERVER_WARNINGS: list[str] = []
"""Warning and error lines of every nats-server this run started, kept for the results file
(the server's own log goes with its temporary directory)."""


def _warnings_in(log_file: Path, keep: int = 50) -> list[str]:
    with contextlib.suppress(OSError):
        lines = log_file.read_text(errors="replace").splitlines()
        return [line for line in lines if "[WRN]" in line or "[ERR]" in line][-keep:]
    return []


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def own_cpu_seconds() -> float:
    """CPU seconds this process (all its threads) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds process `pid` has used (0 once it is gone), from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class CpuMeter:
    """CPU seconds used by this process (all its threads) and by the nats-server, between two
    reads: what a measurement cost, beyond how long it took."""

    def __init__(self, nats_pid: int) -> None:
        self.nats_pid = nats_pid
        self._start = self._read()

    def _read(self) -> tuple[float, float]:
        return own_cpu_seconds(), process_cpu_seconds(self.nats_pid)

    def restart(self) -> None:
        self._start = self._read()

    def used(self) -> dict[str, float]:
        mine, theirs = self._read()
        return {
            "service_process_cpu_sec": round(mine - self._start[0], 3),
            "nats_server_cpu_sec": round(theirs - self._start[1], 3),
        }


@contextlib.asynccontextmanager
async def service(
    data_dir: Path,
    nats_url: str,
    channel: str = "lobby",
    http: bool = True,
    http_parser: str | None = None,
    **overrides: Any,
) -> AsyncIterator[Any]:
    """The real composition root (`entrypoints.bootstrap.running`) on `nats_url`, with the
    simulated CyTube and local ledger, behind uvicorn on a free loopback port when `http`.
    Yields (services, HTTP base URL or None)."""
    from entrypoints.config.settings import HttpLimits, Settings
    from entrypoints.http.server import http_server
    from entrypoints.serve import running, settle_heap

    # Every bench client is on loopback: one address holds all of the sockets.
    many = HttpLimits(ws_max_per_ip=100_000, ws_max_connections=100_000)
    overrides.setdefault("http_limits", many)

    settings = Settings(
        data_dir=data_dir,
        port=free_port(),
        channel=channel,
        nats_url=nats_url,
        cytube="sim",
        economy="local",
        log_level="warning",
        allow_open_nats=True,  # the bench broker has no users
        **overrides,
    )
    async with running(settings) as served:
        services = served.services
        settle_heap()  # as `webqueue serve` does
        base = None
        task = None
        server = None
        if http:
            server = http_server(services, log_level="warning", http_parser=http_parser)
            task = asyncio.create_task(server.serve())
            while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
                await asyncio.sleep(0.02)
            base = f"http://127.0.0.1:{settings.port}"
        # Litestar's default logging config sets the root logger to INFO: keep warnings only.
        import logging

        root = logging.getLogger()
        root.setLevel(logging.WARNING)
        if LOG_COUNTER.handler not in root.handlers:
            root.addHandler(LOG_COUNTER.handler)
        try:
            yield services, base
        finally:
            if server is not None and task is not None:
                server.should_exit = True
                await task


async def caught_up(services: Any, within: float = 60.0) -> None:
    """Wait until every projection runner has folded the log's head."""
    deadline = time.monotonic() + within
    while True:
        head = await services.kernel.log.events.head()
        behind = [r for r in services.runners if r.position < head]
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"projections still behind the head {head}")
        await asyncio.sleep(0.02)


async def raw_stream(
    js: Any, name: str = "BENCHRAW", prefix: str = "raw", replicas: int = 1
) -> str:
    """A bare stream configured as the service's own (file storage, limits retention, the
    same number of copies)."""
    from nats.js import api

    await js.add_stream(
        api.StreamConfig(
            name=name,
            subjects=[f"{prefix}.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            duplicate_window=600.0,
            allow_direct=True,
            num_replicas=replicas,
        )
    )
    return name


async def mean_message_size(js: Any, stream: str, sample: int = 200) -> int:
    """Mean payload size of the last `sample` messages of `stream` (what a raw publish sends)."""
    info = await js.stream_info(stream)
    last, first = info.state.last_seq, info.state.first_seq
    sizes = []
    for seq in range(max(first, last - sample + 1), last + 1):
        with contextlib.suppress(Exception):
            msg = await js.get_msg(stream, seq)
            sizes.append(len(msg.data or b""))
    return int(sum(sizes) / len(sizes)) if sizes else 400


# ---- what the service did, counted ----------------------------------------------------------

#: Calls into the log and the read models since `count_calls()`; read them before and after a
#: measurement. The wrappers add one dict increment per call and change nothing else.
CALLS: dict[str, int] = {}


def count_calls() -> None:
    from adapters.log.jetstream_store import JetStreamEventStore
    from adapters.sql.projection_store import SqlProjectionStore

    def counted(cls: Any, method: str, key: str) -> None:
        original = getattr(cls, method)
        if getattr(original, "_bench_counted", False):
            return

        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            CALLS[key] = CALLS.get(key, 0) + 1
            return await original(self, *args, **kwargs)

        wrapper._bench_counted = True  # type: ignore[attr-defined]
        setattr(cls, method, wrapper)

    counted(JetStreamEventStore, "append", "log_appends")
    counted(JetStreamEventStore, "read_stream", "log_reads")
    counted(SqlProjectionStore, "fetch", "sql_reads")
    counted(SqlProjectionStore, "commit", "sql_write_transactions")


def calls_since(before: dict[str, int], per: int) -> dict[str, float]:
    """Calls made since `before` (a copy of CALLS), per command."""
    return {
        f"{k}_per_cmd": round((CALLS.get(k, 0) - before.get(k, 0)) / max(1, per), 2)
        for k in ("log_appends", "log_reads", "sql_reads", "sql_write_transactions")
    }


# ---- closed-loop load ---------------------------------------------------------------------------


async def closed_loop(
    clients: int,
    total: int,
    op: Any,
    *,
    max_seconds: float,
    warmup: int = 0,
    pause: float = 0.0,
) -> dict[str, Any]:
    """`clients` tasks call `await op(client, k)` back to back (or `pause` seconds apart, the
    pause untimed) until `total` calls have been timed (after `warmup` untimed ones per client)
    or `max_seconds` have passed. Returns the latencies (ms), errors, wall time and rate."""
    latencies: list[float] = []
    errors: list[str] = []
    issued = 0
    if warmup:  # untimed, sequential per client, concurrent across clients
        await asyncio.gather(*(_warm(op, c, warmup, errors) for c in range(clients)))
        errors.clear()
    deadline = time.monotonic() + max_seconds
    started = time.perf_counter()

    async def worker(c: int) -> None:
        nonlocal issued
        k = warmup
        while issued < total and time.monotonic() < deadline:
            issued += 1
            t0 = time.perf_counter()
            try:
                await op(c, k)
            except Exception as exc:  # counted, reported, not timed
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
            else:
                latencies.append((time.perf_counter() - t0) * 1000)
            k += 1
            if pause:
                await asyncio.sleep(pause)

    await asyncio.gather(*(worker(c) for c in range(clients)))
    wall = time.perf_counter() - started
    return {
        "latencies_ms": latencies,
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "wall_sec": wall,
        "rate_per_sec": len(latencies) / wall if wall else math.nan,
        "hit_time_cap": time.monotonic() >= deadline,
        "ops_total": len(latencies) + len(errors) + warmup * clients,
    }


async def _warm(op: Any, c: int, n: int, errors: list[str]) -> None:
    for k in range(n):
        try:
            await op(c, k)
        except Exception as exc:
            errors.append(repr(exc))


# ---- a lean HTTP/1.1 keep-alive client ----------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection with the least client work possible, so the latency we
    time is the server's and the network's, not a client library's. Content-Length bodies only
    (what uvicorn sends for Litestar's JSON answers)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._r: asyncio.StreamReader | None = None
        self._w: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._r, self._w = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self._w is None:
            await self._open()
        assert self._r is not None and self._w is not None
        head = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        if body:
            head += ["content-type: application/json", f"content-length: {len(body)}"]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        self._w.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        raw = await self._r.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
            elif name.lower() == "transfer-encoding":
                raise RuntimeError("chunked answers are not supported by the bench client")
        data = await self._r.readexactly(length) if length else b""
        return status, data

    async def close(self) -> None:
        if self._w is not None:
            self._w.close()
            with contextlib.suppress(Exception):
                await self._w.wait_closed()
            self._w = None


# ---- helper processes ----------------------------------------------------------------------


async def spawn_worker(script: Path, config: dict[str, Any]) -> asyncio.subprocess.Process:
    """Run `script --worker` in its own process (so client work is not charged to the service's
    event loop), with `config` as one JSON line on stdin; it answers with JSON lines on stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        "--worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(config) + "\n").encode())
    await proc.stdin.drain()
    return proc


async def read_message(proc: asyncio.subprocess.Process, within: float = 600) -> dict[str, Any]:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), within)
    if not line:
        raise RuntimeError(f"worker ended early (exit code {await proc.wait()})")
    return dict(json.loads(line))


async def send_message(proc: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(message) + "\n").encode())
    await proc.stdin.drain()


class WorkerIO:
    """The worker's side of the pipe: JSON lines in on stdin, out on stdout."""

    def __init__(self) -> None:
        self._reader: asyncio.StreamReader | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self._reader), sys.stdin)

    async def receive(self) -> dict[str, Any]:
        assert self._reader is not None
        line = await self._reader.readline()
        if not line:
            raise EOFError("the benchmark closed the pipe")
        return dict(json.loads(line))

    @staticmethod
    def send(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


class _Counter:
    """Counts the service's log records of WARNING and above, keeping the first few."""

    def __init__(self) -> None:
        import logging

        self.counts: dict[str, int] = {}
        self.first: list[str] = []
        outer = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                outer.counts[record.levelname] = outer.counts.get(record.levelname, 0) + 1
                if len(outer.first) < 10:
                    outer.first.append(
                        f"{record.levelname} {record.name}: {record.getMessage()}"[:300]
                    )

        self.handler = Handler(level=logging.WARNING)

    def report(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "first": list(self.first)}


LOG_COUNTER = _Counter()


def quiet_logs() -> None:
    """Warnings and errors go to stderr as usual, and are counted for the results file."""
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    root = logging.getLogger()
    root.addHandler(LOG_COUNTER.handler)
    for name in ("uvicorn.access",):
        logging.getLogger(name).setLevel(logging.ERROR)
