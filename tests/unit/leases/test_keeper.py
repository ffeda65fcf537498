"""The lease keeper on a store in memory: one holder at a time, work that stops the moment its
lease is lost, a takeover once a dead holder's lease lapsed, and a lease given back at stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from adapters.clock import WallClock
from application.leases.keeper import LeaseKeeper
from application.leases.ports import Holding
from tests.unit.leases.memory_store import MemoryLeaseStore

LEASE = "channel:lobby"
TTL = 1.0


class Recording:
    def __init__(self) -> None:
        self.acquired: list[tuple[str, float | None]] = []
        self.lost: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None

    def lease_acquired(self, lease: str, takeover_seconds: float | None) -> None:
        self.acquired.append((lease, takeover_seconds))

    def lease_lost(self, lease: str, why: str) -> None:
        self.lost.append((lease, why))


class Work:
    """Owner-only work that says whether it runs, and whether it was stopped."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0
        self.cancelled = 0

    async def __call__(self) -> None:
        self.running = True
        self.starts += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running = False


def keeper(
    store: MemoryLeaseStore, n: int, *, node: str | None = None, **kw: object
) -> LeaseKeeper:
    return LeaseKeeper(
        store,
        holder=f"host-{n}-rnd",
        node=node or f"host:{n}",
        names=[LEASE],
        clock=WallClock(),
        **kw,  # type: ignore[arg-type]
    )


async def until(check: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


@pytest.fixture
async def tasks() -> AsyncIterator[list[asyncio.Task[object]]]:
    made: list[asyncio.Task[object]] = []
    yield made
    for task in made:
        task.cancel()
    await asyncio.gather(*made, return_exceptions=True)


def spawn(tasks: list[asyncio.Task[object]], coro: object) -> asyncio.Task[object]:
    task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
    tasks.append(task)
    return task


async def test_a_lone_instance_holds_its_lease_before_any_work_starts(tasks: list) -> None:
    store = MemoryLeaseStore(TTL)
    one = keeper(store, 1)
    await one.start()
    assert one.holding() == [LEASE]
    work = Work()
    spawn(tasks, one.run_while_held(LEASE, work))
    await until(lambda: work.running, "the work to run")


async def test_of_two_instances_one_holds_and_the_other_takes_over_when_it_dies(
    tasks: list,
) -> None:
    store = MemoryLeaseStore(TTL)
    telemetry = Recording()
    one, two = keeper(store, 1), keeper(store, 2, telemetry=telemetry)
    await one.start()
    await two.start()
    assert one.held(LEASE) and not two.held(LEASE)
    first, second = Work(), Work()
    one_run = spawn(tasks, one.run())
    one_work = spawn(tasks, one.run_while_held(LEASE, first))
    spawn(tasks, two.run())
    spawn(tasks, two.run_while_held(LEASE, second))
    await until(lambda: first.running, "the holder's work")
    # Several renewals pass and the other never gets it meanwhile.
    await until(lambda: (store.read_revisions(LEASE) or 0) >= 5, "renewals")
    assert not second.running and not two.held(LEASE)
    one_run.cancel()  # kill -9: no release, no more renewals
    one_work.cancel()
    await until(lambda: second.running, "the takeover", within=15 * TTL)
    assert two.holding() == [LEASE]
    assert len(telemetry.acquired) == 1
    lease, takeover = telemetry.acquired[0]
    assert lease == LEASE and takeover is not None and takeover >= 0


async def test_work_stops_at_once_when_another_instance_holds_the_lease(tasks: list) -> None:
    store = MemoryLeaseStore(TTL)
    telemetry = Recording()
    one = keeper(store, 1, telemetry=telemetry)
    await one.start()
    work = Work()
    spawn(tasks, one.run())
    spawn(tasks, one.run_while_held(LEASE, work))
    await until(lambda: work.running, "the work")
    now = datetime.now(UTC)
    store.steal(LEASE, Holding("host-9-zzz", "host:9", now, now))
    await until(lambda: not work.running, "the work to stop", within=15 * TTL)
    assert work.cancelled == 1
    assert not one.held(LEASE)
    assert telemetry.lost == [(LEASE, "taken")]


async def test_an_owner_cut_off_from_the_store_stops_before_its_lease_can_lapse(
    tasks: list,
) -> None:
    store = MemoryLeaseStore(TTL)
    telemetry = Recording()
    one = keeper(store, 1, telemetry=telemetry)
    await one.start()
    work = Work()
    spawn(tasks, one.run())
    spawn(tasks, one.run_while_held(LEASE, work))
    await until(lambda: work.running, "the work")
    ages: list[float | None] = []
    store.down = True  # renewals fail from now on

    async def watch() -> None:  # the entry's age at the moment the work stops
        while work.running:  # noqa: ASYNC110  (the very step it stops at is what is measured)
            await asyncio.sleep(0)
        ages.append(store.age(LEASE))

    await asyncio.wait_for(watch(), 15 * TTL)
    assert telemetry.lost == [(LEASE, "expired")]
    # Stopped while the store still held the entry: nobody else could have taken it yet.
    assert ages and ages[0] is not None and ages[0] < TTL


async def test_a_released_lease_is_free_for_the_next_instance_at_once() -> None:
    store = MemoryLeaseStore(60.0)  # it would lapse only in a minute
    one, two = keeper(store, 1), keeper(store, 2)
    await one.start()
    await one.release()
    assert not one.held(LEASE)
    await two.start()
    assert two.holding() == [LEASE]


async def test_a_lease_given_back_at_a_clean_stop_is_not_counted_as_a_takeover() -> None:
    store = MemoryLeaseStore(60.0)
    telemetry = Recording()
    one, two = keeper(store, 1), keeper(store, 2, telemetry=telemetry)
    await one.start()
    await two.start()  # sees one holding it
    assert two.holding() == []
    await one.release()  # a clean stop (systemctl stop, a rolling restart)
    await two.start()
    assert two.holding() == [LEASE]
    assert telemetry.acquired == [(LEASE, None)]  # taken free, not "taken over"


async def test_a_restarted_service_takes_its_own_earlier_lease_at_once() -> None:
    store = MemoryLeaseStore(60.0)
    before, after = keeper(store, 1, node="host:data"), keeper(store, 2, node="host:data")
    await before.start()  # then killed: its lease would last a minute more
    await after.start()
    assert after.holding() == [LEASE]
    other = keeper(store, 3, node="host:elsewhere")
    await other.start()
    assert other.holding() == []


async def test_an_instance_that_takes_no_lease_never_holds_one(tasks: list) -> None:
    store = MemoryLeaseStore(TTL)
    front = keeper(store, 1, take=False)
    await front.start()
    spawn(tasks, front.run())
    work = Work()
    spawn(tasks, front.run_while_held(LEASE, work))
    await asyncio.sleep(3 * TTL)  # not a timing bet: nothing may happen however long we wait
    assert front.holding() == [] and work.starts == 0
    assert await store.read(LEASE) is None
