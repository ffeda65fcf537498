"""Background tasks: stopping them so that they do stop, and reads shared by callers.

On Python 3.11 a cancel can be lost: `asyncio.wait_for` (nats-py awaits every request with it)
returns the result instead of raising when the awaited future completes in the same loop
iteration as the cancel. The task then runs on as if never cancelled, and a `gather` after a
single `cancel()` waits for ever: under load the service hung in shutdown that way. So cancel,
wait a little, and cancel again whatever still runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], *, every: float = 0.5) -> None:
    """Cancel `tasks` and return once all are done, cancelling again every `every` seconds."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every)
    for task in tasks:  # retrieve what they raised, as gather(return_exceptions=True) would
        if not task.cancelled():
            task.exception()


class SharedReads(Generic[T]):
    """Callers asking together share reads: one `read(key)` runs per key at a time, and whoever
    asks while it runs waits for the next one, started when it ends. Every answer was read after
    its caller asked, and a flood of asks costs one read per round trip, not one per ask."""

    def __init__(self, read: Callable[[str], Awaitable[T]]) -> None:
        self._read = read
        self._running: dict[str, asyncio.Task[T]] = {}
        self._waiting: dict[str, asyncio.Future[T]] = {}

    async def get(self, key: str) -> T:
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            self._waiting[key] = waiting
            if key not in self._running:
                self._start(key)
        return await asyncio.shield(waiting)

    def _start(self, key: str) -> None:
        answer = self._waiting.pop(key)
        task = asyncio.ensure_future(self._read(key))
        self._running[key] = task

        def done(read: asyncio.Future[T]) -> None:
            del self._running[key]
            if read.cancelled():
                answer.cancel()
            elif (error := read.exception()) is not None:
                answer.set_exception(error)
            else:
                answer.set_result(read.result())
            if key in self._waiting:  # asked while this read ran: read again for them
                self._start(key)

        task.add_done_callback(done)
