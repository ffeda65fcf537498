"""The running service as entrypoints see it: the kernel and one object per capability.

HTTP, NATS and the CLI import this type only (never `bootstrap`, which builds it), so the
composition root and the entrypoints it serves do not import each other.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from attrs import define, field

from adapters.service_lock import ServiceLock
from application.projections.runner import ProjectionRunner
from application.tasks import cancel_and_wait
from entrypoints.wiring.admin import Admin
from entrypoints.wiring.cytube import Cytube
from entrypoints.wiring.identity import Identity
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Capability
from entrypoints.wiring.pay import Pay
from entrypoints.wiring.playlists import Playlists
from entrypoints.wiring.presence import Presence
from entrypoints.wiring.promos import Promos
from entrypoints.wiring.queue import Queue
from entrypoints.wiring.stats import Stats

log = logging.getLogger("webqueue")


@define
class Services:
    kernel: Kernel
    identity: Identity
    cytube: Cytube
    queue: Queue
    playlists: Playlists
    pay: Pay
    promos: Promos
    presence: Presence
    stats: Stats
    admin: Admin
    runners: list[ProjectionRunner]
    lock: ServiceLock | None = None
    tasks: list[asyncio.Task[Any]] = field(factory=list)

    @property
    def capabilities(self) -> tuple[Capability, ...]:
        """In the order they start (each after those it uses); they close in reverse."""
        return (
            self.identity,
            self.cytube,
            self.queue,
            self.playlists,
            self.pay,
            self.promos,
            self.presence,
            self.stats,
            self.admin,
        )

    async def start(self) -> None:
        for runner in self.runners:
            self._spawn(runner.run(), f"projection:{runner.projection.name}")
        for capability in self.capabilities:
            for work in capability.background():
                self._spawn(work.run(), work.name)
            await capability.start()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_report_crash)
        self.tasks.append(task)

    async def close(self) -> None:
        # Watchers of CyTube stop first, so nothing new arrives while the rest winds down.
        await self.cytube.close()
        await cancel_and_wait(self.tasks)  # not one cancel and a gather: see application.tasks
        for capability in reversed(self.capabilities):
            if capability is not self.cytube:
                await capability.close()
        await self.kernel.tail.close()
        await self.kernel.read_models.close()
        await self.kernel.log.close()
        if self.lock is not None:
            self.lock.release()


def _report_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s stopped", task.get_name(), exc_info=task.exception())
