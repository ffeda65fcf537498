"""The queue: observations of CyTube recorded, the shadow projection, reads, the live fan-out,
and the add pacer every process manager that adds to CyTube shares."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

from application.queue.live import LiveQueues
from application.queue.observing import Observer
from application.queue.pacing import AddPacer
from application.queue.shadow import QueueShadowProjection
from application.queue.view import QueueQueries
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Plain, ProjectionPart


@define
class Queue(Plain):
    observer: Observer
    queries: QueueQueries
    live: LiveQueues
    shadow: QueueShadowProjection
    pacer: AddPacer

    def projections(self) -> Sequence[ProjectionPart]:
        # Live watchers see the shadow's changes from its memory, before they reach SQL.
        return (ProjectionPart(self.shadow, on_change=self.live.changed),)

    async def close(self) -> None:
        await self.observer.close()


def projections() -> list[QueueShadowProjection]:  # a fresh one each call (rebuilds)
    return [QueueShadowProjection()]


def wire_queue(kernel: Kernel) -> Queue:
    queries = QueueQueries(kernel.read_models, kernel.clock)
    (shadow,) = projections()
    return Queue(
        observer=Observer(kernel.handler),
        queries=queries,
        live=LiveQueues(queries, shadow),
        shadow=shadow,
        pacer=AddPacer(kernel.clock, kernel.settings.pay_flow.add_delay_sec),
    )
