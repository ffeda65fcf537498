"""Leases: which instance runs a channel's owner-only work and writes the shared read models.

Owner-only work (by its background name) runs under the channel's lease; the projections write
under the read-model database's lease. Every instance serves HTTP, WebSockets and NATS commands
whatever it holds. The embedded default is one process: it simply holds every lease.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from attrs import define

from application.leases.keeper import LeaseKeeper, channel_lease, guarded, projections_lease
from application.leases.ports import LeaseStore
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background

# What must have one owner per channel: Kryten's observations ingested in order (or the
# simulated channel), the pay flow, the promo director, the presence monitor, schedule firing,
# playlist applies and the catalog's scheduled refresh.
OWNER_ONLY = frozenset(
    {
        "kryten-inbound",
        "simulator",
        "pay-flow",
        "promo-director",
        "presence-refunds",
        "schedule-firer",
        "playlist-apply",
        "catalog-schedule",
    }
)


@define
class Leases:
    keeper: LeaseKeeper
    channel: str  # the channel's lease name
    projections: str  # the read-model database's lease name

    def owns_channel(self) -> bool:
        return self.keeper.held(self.channel)

    def guard(self, work: Background) -> Callable[[], Coroutine[Any, Any, Any]]:
        """`work` as it must run here: under the channel's lease if it is owner-only."""
        if work.name in OWNER_ONLY:
            return guarded(self.keeper, self.channel, work.run)
        return work.run


def wire_leases(
    kernel: Kernel, store: LeaseStore, *, holder: str, node: str, database: str
) -> Leases:
    settings = kernel.settings
    channel = channel_lease(settings.channel)
    projections = projections_lease(database)
    keeper = LeaseKeeper(
        store,
        holder=holder,
        node=node,
        names=[channel, projections],
        clock=kernel.wall_clock,
        telemetry=kernel.metrics.telemetry,
        take=settings.take_leases,
    )
    return Leases(keeper, channel, projections)
