"""The service as one running program: the capabilities started, then the NATS command
subjects over them (HTTP is served by the caller, over the same services)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from attrs import frozen

from entrypoints.bootstrap import build_services
from entrypoints.config.settings import Settings
from entrypoints.nats_commands import NatsCommands
from entrypoints.services import Services

log = logging.getLogger(__name__)


def settle_heap() -> None:
    """For a process that is now a long-running service: what startup built stays for good,
    so it leaves the cyclic collector's view (gc.freeze), and young objects are collected
    less often. Measured with 1,000 live sockets: full collections of 56-156 ms were the
    main cause of the fan-out's tail (docs/performance.md). Not for tests, which start many
    services in one process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


@frozen
class Served:
    services: Services
    commands: NatsCommands


@contextlib.asynccontextmanager
async def running(settings: Settings, *, sim_in_front: bool = False) -> AsyncIterator[Served]:
    services = await build_services(settings, sim_in_front=sim_in_front)
    commands = NatsCommands(services.kernel.log.nc, services, settings.channel)
    services.kernel.log.connection.on_reopened.append(commands.resubscribe)
    try:
        await services.start()
        await commands.start()
        yield Served(services, commands)
    finally:
        try:
            await commands.stop()
        finally:  # whatever happened to NATS, the embedded server is stopped
            await services.close()


async def reap_leftovers(within: float = 5.0) -> None:
    """Tasks still alive once the service has closed are cancelled here, so that `asyncio.run`
    cancels them a second time on its way out. One cancel is not always enough: a database
    connection SQLAlchemy invalidated mid-query (a read cancelled at stop) closes through a
    shielded aiosqlite close whose `finally` awaits a worker thread that has already stopped,
    and a single cancel left `webqueue serve` hanging for ever after SIGTERM."""
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    if not left:
        return
    for task in left:
        task.cancel()
    _, pending = await asyncio.wait(left, timeout=within)
    for task in pending:
        log.warning("still running at exit, cancelled again: %s", task.get_coro())
