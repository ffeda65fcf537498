"""The service as one running program: the capabilities started, then the NATS command
subjects over them (HTTP is served by the caller, over the same services)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from attrs import frozen

from entrypoints.bootstrap import build_services
from entrypoints.config.settings import Settings
from entrypoints.nats_commands import NatsCommands
from entrypoints.services import Services


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
async def running(settings: Settings) -> AsyncIterator[Served]:
    services = await build_services(settings)
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
