"""The admin projections viewer: its page, and the API behind it."""

from __future__ import annotations

from datetime import timedelta
from importlib.resources import files
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import QueryParameter

from application.admin.viewer import CommitView, Progress, ProjectionInfo, TablePage
from application.identity.roles import require
from application.pay.audit import audit_log
from entrypoints.http.auth import IdentityDep
from entrypoints.http.hardening import page_csp
from entrypoints.http.params import PathInt, PathText, ServicesDep
from entrypoints.http.queue import known_channel


class AdminController(Controller):
    path = "/api/v1/admin"
    tags = ["admin"]

    @get("/projections", summary="Every projection: checkpoint, log head, lag, rows, last error")
    async def projections(
        self, services: ServicesDep, identity: IdentityDep
    ) -> list[ProjectionInfo]:
        return await services.admin.viewer.projections(identity)

    @post(
        "/projections/{name:str}/rebuild",
        summary="Drop and replay a projection; progress shows in /projections",
        status_code=202,
        opt={"intake": False},  # appends nothing; an admin may need it most when behind
    )
    async def rebuild(
        self, services: ServicesDep, identity: IdentityDep, name: PathText
    ) -> Progress:
        return await services.admin.viewer.rebuild(identity, name)

    @get("/projections/{name:str}/tables/{table:str}", summary="A page of a projection's rows")
    async def rows(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        name: PathText,
        table: PathText,
        page: Annotated[int, QueryParameter(name="page", ge=1, le=1_000_000)] = 1,
        size: Annotated[int, QueryParameter(name="size", ge=1, le=500)] = 50,
        sort: Annotated[str | None, QueryParameter(name="sort", max_length=100)] = None,
        desc: Annotated[bool, QueryParameter(name="desc")] = False,
    ) -> TablePage:
        return await services.admin.viewer.rows(
            identity, name, table, page=page, size=size, sort=sort, descending=desc
        )

    @get(
        "/audit",
        summary="The money audit: the queue's facts joined to the wallet's, per user and purchase",
    )
    async def audit(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Annotated[str | None, QueryParameter(name="channel", max_length=40)] = None,
        stuck_after: Annotated[
            int, QueryParameter(name="stuck_after", ge=1, le=30 * 24 * 3600)
        ] = 600,
    ) -> dict[str, object]:
        require(identity, "admin")
        name = channel or services.kernel.settings.channel
        await known_channel(services, name)
        report = await audit_log(
            name,
            services.kernel.log.events.read_all(channel=name),
            services.kernel.clock.now(),
            timedelta(seconds=stuck_after),
        )
        return report.to_builtins()

    @get(
        "/instances",
        summary="The instances and the leases each holds (the channel's owner-only work, the "
        "shared read models), as the lease bucket has them",
    )
    async def instances(self, services: ServicesDep, identity: IdentityDep) -> dict[str, object]:
        require(identity, "admin")
        leases = services.leases
        if leases is None:
            return {"instance": None, "ttl_sec": None, "takes_leases": False, "leases": []}
        keeper = leases.keeper
        try:
            entries, alive = await keeper.roster()
            error = None
        except Exception as exc:  # the bucket unreachable: say so, show what this one holds
            entries, alive, error = [], [], f"{type(exc).__name__}: {exc}"[:200]
        now = services.kernel.wall_clock.now()
        held_by: dict[str, list[str]] = {}
        for e in entries:
            held_by.setdefault(e.holding.holder, []).append(e.name)
        live = [
            {
                "instance": h.holder,
                "node": h.node,
                "since": h.acquired_at.isoformat(),
                "renewed_ago_sec": round((now - h.renewed_at).total_seconds(), 1),
                "leases": held_by.get(h.holder, []),
                "this_instance": h.holder == keeper.holder,
            }
            for h in alive
        ]
        rows = [
            {
                "lease": e.name,
                "holder": e.holding.holder,
                "node": e.holding.node,
                "acquired_at": e.holding.acquired_at.isoformat(),
                "renewed_at": e.holding.renewed_at.isoformat(),
                "renewed_ago_sec": round((now - e.holding.renewed_at).total_seconds(), 1),
                "revision": e.revision,
                "this_instance": e.holding.holder == keeper.holder,
            }
            for e in entries
        ]
        try:  # how the log is copied: the stream's replicas and the cluster's state
            copies = (await services.kernel.log.events.replication()).health()
            replication = {"status": copies.status, "detail": copies.detail}
        except Exception as exc:
            replication = {"status": "degraded", "detail": f"no stream info: {exc}"[:200]}
        return {
            "instance": keeper.holder,
            "node": keeper.node,
            "log_copies": replication,
            "ttl_sec": keeper.timing.ttl,
            "takes_leases": keeper.take,
            "holds": keeper.holding(),
            "leases": rows,
            "instances": sorted({e.holding.holder for e in entries}),  # those holding a lease
            "alive": live,  # every instance, standbys and fronts included
            "error": error,
        }

    @get("/commits/{position:int}", summary="One commit: its events, causation and correlation")
    async def commit(
        self, services: ServicesDep, identity: IdentityDep, position: PathInt
    ) -> CommitView:
        return await services.admin.viewer.commit(identity, position)


@get("/admin", media_type="text/html", include_in_schema=False)
async def admin_page() -> Response[str]:
    """The viewer itself: one static page, no build step, works straight from pip install."""
    html = files("entrypoints").joinpath("static/admin.html").read_text(encoding="utf-8")
    return Response(html, headers={"content-security-policy": page_csp(html)})
