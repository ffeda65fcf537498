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
from application.health import PartHealth
from application.projections.runner import ProjectionRunner
from application.supervisor import Supervised
from application.tasks import cancel_and_wait
from entrypoints.wiring.admin import Admin
from entrypoints.wiring.catalog import Catalog
from entrypoints.wiring.cytube import Cytube
from entrypoints.wiring.identity import Identity
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.leases import Leases
from entrypoints.wiring.likes import Likes
from entrypoints.wiring.parts import Capability
from entrypoints.wiring.pay import Pay
from entrypoints.wiring.playlists import Playlists
from entrypoints.wiring.presence import Presence
from entrypoints.wiring.promos import Promos
from entrypoints.wiring.queue import Queue
from entrypoints.wiring.rules import Rules
from entrypoints.wiring.schedules import Schedules
from entrypoints.wiring.stats import Stats
from entrypoints.workers import Workers

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
    likes: Likes
    admin: Admin
    catalog: Catalog
    runners: list[ProjectionRunner]
    schedules: Schedules | None = None
    lock: ServiceLock | None = None
    rules: Rules | None = None
    leases: Leases | None = None  # which channel and read models this instance owns
    tasks: list[asyncio.Task[Any]] = field(factory=list)
    supervised: list[Supervised] = field(factory=list)  # every background task, restarted
    workers: Workers | None = None  # `serve --workers N`: the processes running the followers

    @property
    def capabilities(self) -> tuple[Capability, ...]:
        """In the order they start (each after those it uses); they close in reverse."""
        return (
            self.identity,
            self.cytube,
            self.queue,
            self.playlists,
            self.pay,
            *((self.rules,) if self.rules is not None else ()),
            self.catalog,
            self.promos,
            self.presence,
            self.stats,
            self.likes,
            self.admin,
            *((self.schedules,) if self.schedules is not None else ()),
        )

    async def start(self) -> None:
        leases = self.leases
        if leases is not None:
            await leases.keeper.start()  # alone, it holds every lease before any work starts
            self._spawn(leases.keeper.run, "leases")
        for runner in self.runners:
            self._spawn(runner.run, f"projection:{runner.projection.name}")
        for capability in self.capabilities:
            for work in capability.background():
                self._spawn(work.run if leases is None else leases.guard(work), work.name)
            await capability.start()

    def _spawn(self, work: Any, name: str) -> None:
        """Under a Supervised: it is started again if it ever stops (application.supervisor)."""
        supervised = Supervised(name, work)
        self.supervised.append(supervised)
        task = asyncio.create_task(supervised.run(), name=name)
        task.add_done_callback(_report_crash)
        self.tasks.append(task)

    async def health(self) -> dict[str, PartHealth]:
        """Every part by name, for /health: the NATS connection, each projection, each
        background task, and what each capability reports of its own."""
        kernel = self.kernel
        try:
            head: int | None = await kernel.log.events.head()
        except Exception:
            head = None
        parts: dict[str, PartHealth] = {"nats": kernel.log.connection.health()}
        try:
            gone = await kernel.log.events.missing() if head is not None else 0
        except Exception:
            gone = 0
        ahead = max((r.position for r in self.runners), default=0)
        if gone:
            parts["log"] = PartHealth(
                "down", f"{gone} of the log's {head} commits are gone: it was purged or edited"
            )
        elif head is not None and ahead > head:
            parts["log"] = PartHealth(
                "down",
                f"the log's head {head} is behind what the read models hold ({ahead}): "
                "was the stream purged or replaced?",
            )
        if head is not None:
            try:
                parts["log:copies"] = (await kernel.log.events.replication()).health()
            except Exception as exc:
                parts["log:copies"] = PartHealth("degraded", f"no stream info: {exc}")
        for runner in self.runners:
            parts[f"projection:{runner.projection.name}"] = runner.health(head)
        for supervised in self.supervised:
            if not supervised.name.startswith("projection:"):
                parts[f"task:{supervised.name}"] = supervised.health()
            elif not supervised.health().ok:
                parts[supervised.name] = supervised.health()
        for capability in self.capabilities:
            parts.update(await capability.health())
        if self.leases is not None:
            parts["leases"] = self.leases.keeper.health()
        if self.workers is not None:
            parts["workers"] = self.workers.health()
        return parts

    async def close(self) -> None:
        # Watchers of CyTube stop first, so nothing new arrives while the rest winds down.
        await self.cytube.close()
        await cancel_and_wait(self.tasks)  # not one cancel and a gather: see application.tasks
        if self.leases is not None:  # its work stopped: another instance may take it now
            await self.leases.keeper.release()
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
