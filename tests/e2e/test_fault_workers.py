"""`webqueue serve --workers 1`: the front serves HTTP and takes no lease, its worker process
runs the projections and the process managers. Either is killed with SIGKILL in the middle of
purchases, and nothing is lost: a dead worker is started again by the front and takes the work
back, and a worker whose front died stops by itself and gives its leases back, so the front
started again (as systemd would) carries on with a new one.

Run in Kryten mode against robot- and economy-shaped peers on the wire, as the instance fault
tests are (tests/e2e/test_fault_instances.py), with the front's default read-model database
(its data dir's SQLite file), which the worker must share.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from nats.aio.client import Client

from tests.e2e.test_fault_instances import HANG, Instance, World, _captured, _holds, until

WORKER = re.compile(r"worker 1 pid (\d+) up")


async def worker_pid(front: Instance) -> int | None:
    part = (await front.health())["parts"].get("workers", {})
    found = WORKER.search(part.get("detail", ""))
    return int(found.group(1)) if found and part.get("status") == "ok" else None


async def writer_is(front: Instance, pid: int, boss: dict[str, str]) -> bool:
    """The worker `pid` holds both leases (the channel's and the projections'), as the
    instances roster tells it."""
    roster = (await front.http.get("/api/v1/admin/instances", headers=boss)).json()
    held = {i["instance"]: len(i["leases"]) for i in roster.get("alive", [])}
    return any(f"-{pid}-" in name and n == 2 for name, n in held.items())


async def stopped(pid: int) -> bool:
    return gone(pid)


def gone(pid: int) -> bool:
    """Not running (a zombie nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return True
    return state in "ZX"


@pytest.fixture
def world(tmp_path: Path, nc_one_server: tuple[Client, str]) -> World:
    nc, url = nc_one_server
    from tests.e2e.test_kryten_mode import Peers

    return World(tmp_path, url, 1, Peers(nc), "")  # "": each process's default database


@pytest.fixture
async def nc_one_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    import nats

    from adapters.nats.embedded_server import EmbeddedNatsServer

    with EmbeddedNatsServer(tmp_path / "broker", auth=False) as server:
        client = await nats.connect(server.url)
        yield client, server.url
        await client.close()


def front_of(world: World) -> Instance:
    return world.instance("front", extra=["--workers", "1"])


async def test_kill_9_of_the_worker_or_of_the_front_loses_no_purchase(world: World) -> None:
    w = world
    await w.start()
    lease = f"channel:{w.peers.channel}"
    taken: dict[str, tuple[str, str]] = {}
    next_n = 0

    async def burst(count: int, via: Instance, during: Callable[[], None] | None = None) -> None:
        nonlocal next_n
        sent = [(k, asyncio.create_task(w.buy(k, via))) for k in range(next_n, next_n + count)]
        next_n += count
        await asyncio.sleep(0)
        if during is not None:
            during()
        for k, task in sent:
            r = await task
            while r is None or r.status_code in (502, 503):
                await asyncio.sleep(0.2)
                r = await w.buy(k, via)
            w.took(taken, k, r)

    boss = w.token("boss", "admin")
    front = front_of(w)
    try:
        health = await front.up()
        assert health["leases"] == [], "the front took a lease: the workers should"
        first: int = await until(lambda: worker_pid(front), "the front's worker to be up")
        await until(lambda: writer_is(front, first, boss), "the worker to hold both leases")
        assert not await _holds(front, lease)
        await w.playing(front)
        health = await front.health()
        assert health["status"] == "ok", {
            k: v for k, v in health["parts"].items() if v["status"] != "ok"
        }
        await burst(6, front)

        # kill -9 the worker in the middle of a burst: the front starts another, which takes
        # the work back once the dead one's leases lapse.
        killed = time.monotonic()
        await burst(8, front, during=lambda: os.kill(first, signal.SIGKILL))

        async def replaced() -> int | None:
            pid = await worker_pid(front)
            return pid if pid not in (None, first) else None

        second: int = await until(replaced, "the front to start a new worker")
        await until(lambda: writer_is(front, second, boss), "the new worker to take the leases")
        takeover = time.monotonic() - killed
        log = front.log.read_text()
        assert f"(pid {first}) ended with signal SIGKILL" in log, log[-3000:]
        assert f"[worker 1] lease channel:{w.peers.channel} taken" in log, log[-3000:]
        assert await _captured(front) == 0, "the front ran the pay flow"
        await burst(6, front)
        await w.at_rest(front, taken)

        # kill -9 the front: its worker notices, stops cleanly (leases given back), and the
        # front started again on the same data dir carries on with a new worker.
        front.kill()
        await until(lambda: stopped(second), "the orphaned worker to stop", within=15)
        assert "the front (pid" in front.log.read_text().split("ended with signal SIGKILL")[-1]
        await front.http.aclose()
        front = front_of(w)
        await front.up()
        third: int = await until(lambda: worker_pid(front), "the new front's worker")
        await until(lambda: writer_is(front, third, boss), "its worker to take the leases")
        await burst(6, front)
        await w.at_rest(front, taken)
        assert len(taken) == next_n
        w.added_once()
        await w.audit(next_n)

        # A clean stop drains both.
        stop_at = time.monotonic()
        assert await front.stop() == 0, front.log.read_text()[-3000:]
        assert gone(third), "the worker outlived its front's clean stop"
        print(
            f"\n{next_n} purchases; the worker's work taken back {takeover:.1f}s after its "
            f"kill -9; a clean stop of both took {time.monotonic() - stop_at:.1f}s"
        )
    finally:
        front.kill()
        await front.http.aclose()
        for pid in (locals().get("first"), locals().get("second"), locals().get("third")):
            if isinstance(pid, int) and not gone(pid):
                os.kill(pid, signal.SIGKILL)
        await w.peers.robot.close()
        await w.peers.economy.close()


async def test_workers_with_no_leases_are_refused(tmp_path: Path) -> None:
    """Workers that would take no lease could not do the work: said at once, exit 2."""
    from tests.e2e.test_cli import CLI

    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--data-dir", str(tmp_path), "--workers", "1", "--no-leases",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), HANG)
    assert proc.returncode == 2
    assert "--workers with --no-leases" in err.decode()
