"""The queue: the shadow projection (each channel's playlist and payment ledger), its reads,
and the live fan-out to WebSockets."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

from application.queue.live import LiveQueues
from application.queue.shadow import QueueShadowProjection
from application.queue.view import QueueQueries
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Plain, ProjectionPart


@define
class Queue(Plain):
    queries: QueueQueries
    live: LiveQueues
    shadow: QueueShadowProjection

    def projections(self) -> Sequence[ProjectionPart]:
        # Live watchers see the shadow's changes from its memory, before they reach SQL.
        return (ProjectionPart(self.shadow, on_change=self.live.changed),)


def projections() -> list[QueueShadowProjection]:  # a fresh one each call (rebuilds)
    return [QueueShadowProjection()]


def wire_queue(kernel: Kernel) -> Queue:
    queries = QueueQueries(kernel.read_models, kernel.clock)
    (shadow,) = projections()
    return Queue(queries=queries, live=LiveQueues(queries, shadow), shadow=shadow)
