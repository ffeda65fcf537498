"""`/health`: the log, how far behind it each projection is, and every part a capability
reports (background work, peers), so a stalled or failing part shows here, not only in logs."""

from __future__ import annotations

import msgspec
from litestar import Response, get

from entrypoints.http.params import ServicesDep
from entrypoints.version import webqueue_version


class ProjectionHealth(msgspec.Struct):
    position: int
    lag: int
    last_error: str | None


class PartView(msgspec.Struct):
    status: str
    detail: str | None = None


class Health(msgspec.Struct):
    status: str
    version: str
    channel: str
    log_connected: bool
    log_head: int | None
    projections: dict[str, ProjectionHealth]
    parts: dict[str, PartView]
    # This instance among several (host-pid-random) and the leases it holds now: the channel's
    # owner-only work ("channel:<name>") and the shared read models ("projections:<db>").
    instance: str | None = None
    leases: list[str] = msgspec.field(default_factory=list)


@get("/health", summary="Liveness: the log, projection lag, and every part's status")
async def health(services: ServicesDep) -> Response[Health]:
    kernel = services.kernel
    connected = kernel.log.nc.is_connected
    head = None
    if connected:
        try:
            head = await kernel.log.events.head()
        except Exception:
            connected = False
    projections = {}
    for runner in services.runners:
        status = await kernel.read_models.status(runner.projection.name)
        lag = max((head or status.position) - status.position, 0)
        projections[runner.projection.name] = ProjectionHealth(
            status.position, lag, status.last_error
        )
    parts = {
        name: PartView(part.status, part.detail) for name, part in (await services.health()).items()
    }
    healthy = connected and all(p.status == "ok" for p in parts.values())
    body = Health(
        status="ok" if healthy else "degraded",
        version=webqueue_version(),
        channel=kernel.settings.channel,
        log_connected=connected,
        log_head=head,
        projections=projections,
        parts=parts,
    )
    if services.leases is not None:
        body.instance = services.leases.keeper.holder
        body.leases = services.leases.keeper.holding()
    return Response(body, status_code=200 if connected else 503)
