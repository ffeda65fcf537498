"""`webqueue serve --workers N`: the followers in processes of their own, supervised.

The process a person starts (the front) serves HTTP, WebSockets and NATS commands and keeps
its own light fold of the queue for the live fan-out, and takes no lease. Each worker is the
same service started again on this command line, on a loopback port and a data dir of its own
and the front's read-model database: it takes the leases, so one worker runs the projections
and the process managers (pay flow, promos, presence, schedules) on the other core, and any
more are hot standbys. Nothing passes between the two but the log and the read models, which
is why, on the embedded default, a worker is given the embedded server's address and its
service user's credentials file, and the simulated channel stays in the front: the workers
command it and follow its virtual clock over NATS (adapters.sim.bridge).

Supervised both ways: a worker that ends is logged and started again (after 1 s, doubling to
30 s while it keeps failing), a clean stop sends each worker SIGTERM and waits for it to give
its leases back, and a worker whose front is gone (kill -9) stops itself within a second, so
the front's restart (systemd's) starts the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from adapters.nats.embedded_server import free_port
from application.health import PartHealth
from entrypoints.argv import without
from entrypoints.config.settings import Settings

log = logging.getLogger("webqueue.workers")

FIRST_RESTART_SEC = 1.0
MAX_RESTART_SEC = 30.0
STEADY_SEC = 60.0  # a worker that ran this long before it ended is restarted after 1 s again
STOP_WITHIN_SEC = 30.0
#: Flags the front takes for itself; a worker gets its own values of these.
FRONT_ONLY = (
    "--workers",
    "--port",
    "--host",
    "--data-dir",
    "--worker",
    "--worker-of",
    "--cytube",
    "--economy",
)


class WorkersRefused(Exception):
    """`--workers` with a setting it cannot work with; the message says which and why."""


def check(settings: Settings) -> None:
    if settings.workers >= 1 and not settings.take_leases:
        raise WorkersRefused(
            "--workers with --no-leases: the workers would take no lease either; "
            "run one or the other"
        )


def reach(settings: Settings, log_url: str, creds_file: Path | None) -> list[str]:
    """What a worker is told beyond the front's command line: the embedded NATS server's
    address and its service user's credentials file (never the password itself), and that the
    simulated channel and its clock are the front's. The front's CyTube and economy are named
    outright: a NATS URL alone would make them Kryten's."""
    extra = ["--cytube", settings.cytube, "--economy", settings.economy]
    if settings.nats_url is None:
        extra += ["--nats-url", log_url]
        if creds_file is not None:
            extra += ["--nats-creds", str(creds_file)]
    if settings.cytube == "sim":
        extra.append("--sim-in-front")
    return extra


def worker_argv(
    argv: Sequence[str],
    *,
    number: int,
    port: int,
    data_dir: Path,
    front_pid: int,
    extra: Sequence[str] = (),
) -> list[str]:
    """This command line for one worker: the front's own flags replaced."""
    return [
        *without(argv, FRONT_ONLY, bare=("--no-leases", "--sim-in-front")),
        *extra,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--worker-of",
        str(front_pid),
        "--worker",
        str(number),
        "--workers",
        "0",  # whatever the config file says: a worker starts none of its own
    ]


class _Worker:
    def __init__(self, number: int) -> None:
        self.number = number
        self.proc: asyncio.subprocess.Process | None = None
        self.started = 0.0
        self.restarts = 0


class Workers:
    def __init__(self, settings: Settings, argv: Sequence[str], extra: Sequence[str] = ()) -> None:
        self._argv = list(argv)
        self._extra = list(extra)
        self._data_dir = settings.data_dir
        # The front's read models, named the same way to every worker (their own data dirs
        # would otherwise give each its own SQLite file). Passed in the environment, where a
        # password in it stays out of the process list.
        self._env = {**os.environ, "WEBQUEUE_DB_URL": settings.database_url}
        self._workers = [_Worker(k + 1) for k in range(settings.workers)]
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        for worker in self._workers:
            self._tasks.append(
                asyncio.create_task(self._keep(worker), name=f"worker-{worker.number}")
            )

    async def _spawn(self, worker: _Worker) -> asyncio.subprocess.Process:
        argv = worker_argv(
            self._argv,
            number=worker.number,
            port=free_port(),
            data_dir=self._data_dir / f"worker-{worker.number}",
            front_pid=os.getpid(),
            extra=self._extra,
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "entrypoints.cli.main",
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            # Ours, not a pipe through us: a worker whose front died still tells the journal
            # why it stops. Its lines are marked with its number (`--worker`).
            env=self._env,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the front only
        )
        worker.proc, worker.started = proc, time.monotonic()
        log.info("worker %d started (pid %d)", worker.number, proc.pid)
        return proc

    async def _keep(self, worker: _Worker) -> None:
        delay = FIRST_RESTART_SEC
        while not self._stopping:
            try:
                proc = await self._spawn(worker)
            except OSError as exc:
                log.error("worker %d could not start: %s", worker.number, exc)
            else:
                code = await proc.wait()
                if self._stopping:
                    return
                ran = time.monotonic() - worker.started
                if ran >= STEADY_SEC:
                    delay = FIRST_RESTART_SEC
                log.error(
                    "worker %d (pid %d) ended with %s after %.0f s; starting it again in %.0f s",
                    worker.number,
                    proc.pid,
                    _exit(code),
                    ran,
                    delay,
                )
            worker.restarts += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_SEC)

    async def stop(self, within: float = STOP_WITHIN_SEC) -> None:
        """SIGTERM to each worker, and wait for it to drain and give its leases back."""
        self._stopping = True
        alive = [w.proc for w in self._workers if w.proc is not None and w.proc.returncode is None]
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if alive:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in alive], timeout=within)
            for proc in alive:
                if proc.returncode is None:
                    log.error("worker pid %d did not stop within %.0f s; killed", proc.pid, within)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
        if self._tasks:  # each returns once its worker has ended
            await asyncio.wait(self._tasks, timeout=5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def health(self) -> PartHealth:
        lines = []
        down = 0
        for w in self._workers:
            if w.proc is None or w.proc.returncode is not None:
                down += 1
                lines.append(f"worker {w.number} down (restarted {w.restarts} times)")
            else:
                up = time.monotonic() - w.started
                lines.append(
                    f"worker {w.number} pid {w.proc.pid} up {up:.0f} s "
                    f"(restarted {w.restarts} times)"
                )
        status = "ok" if not down else "degraded"
        return PartHealth(status, "; ".join(lines))


def _exit(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


async def watch_front(front_pid: int, stop: Callable[[], None], every: float = 1.0) -> None:
    """In a worker: once the front that started it is gone, stop (cleanly: leases given
    back), instead of running on as an orphan nobody supervises."""
    while os.getppid() == front_pid:  # noqa: ASYNC110 (no event tells of a parent's death)
        await asyncio.sleep(every)
    log.warning("the front (pid %d) is gone; this worker stops", front_pid)
    stop()
