"""Channel stats: the projection and the queries over it."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

from application.stats.projection import StatsProjection
from application.stats.queries import StatsQueries
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Plain, ProjectionPart


@define
class Stats(Plain):
    queries: StatsQueries
    projection: StatsProjection

    def projections(self) -> Sequence[ProjectionPart]:
        return (ProjectionPart(self.projection),)


def projections() -> list[StatsProjection]:
    return [StatsProjection()]


def wire_stats(kernel: Kernel) -> Stats:
    (projection,) = projections()
    return Stats(StatsQueries(kernel.read_models, kernel.clock), projection)
