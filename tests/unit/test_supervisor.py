"""Background work outlives any error: it is started again, and its health says so meanwhile."""

from __future__ import annotations

import asyncio

from application.supervisor import Supervised


async def test_work_that_fails_is_started_again_and_reported_until_it_settles() -> None:
    runs = 0
    steady = asyncio.Event()

    async def work() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise OSError(28, "No space left on device")
        steady.set()
        await asyncio.Event().wait()  # runs until stopped

    supervised = Supervised("flaky", work, first_pause=0.01, max_pause=0.05, settled=30)
    task = asyncio.create_task(supervised.run())
    await asyncio.wait_for(steady.wait(), 5)
    assert runs == 3 and supervised.restarts == 2 and not task.done()
    health = supervised.health()
    assert health.status == "degraded" and "No space left" in (health.detail or "")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_work_that_returns_is_started_again_too() -> None:
    runs = 0
    again = asyncio.Event()

    async def work() -> None:
        nonlocal runs
        runs += 1
        if runs == 2:
            again.set()
            await asyncio.Event().wait()

    supervised = Supervised("quitter", work, first_pause=0.01)
    task = asyncio.create_task(supervised.run())
    await asyncio.wait_for(again.wait(), 5)
    assert "returned" in (supervised.last_error or "")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_healthy_work_is_ok_and_a_cancel_stops_it() -> None:
    async def work() -> None:
        await asyncio.Event().wait()

    supervised = Supervised("calm", work)
    task = asyncio.create_task(supervised.run())
    await asyncio.sleep(0)
    assert supervised.health().ok
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and supervised.restarts == 0
