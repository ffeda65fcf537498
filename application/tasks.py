"""Stopping background tasks so that they do stop.

On Python 3.11 a cancel can be lost: `asyncio.wait_for` (nats-py awaits every request with it)
returns the result instead of raising when the awaited future completes in the same loop
iteration as the cancel. The task then runs on as if never cancelled, and a `gather` after a
single `cancel()` waits for ever: under load the service hung in shutdown that way. So cancel,
wait a little, and cancel again whatever still runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


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
