"""The admins' pages: people (blessed list, sessions, blocked addresses) and the projections
viewer. Both render for anyone and say so when you are not an admin: the viewer also takes an
admin bearer token, as it always has."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template

from entrypoints.http.pages.layout import caller_of, page
from entrypoints.http.params import ServicesDep


@get("/admin", include_in_schema=False)
async def admin_viewer_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template:
    caller = await caller_of(request, services)
    admin = caller is not None and caller.identity.at_least("admin")
    return await page(
        request,
        services,
        "admin_viewer.html",
        "admin_viewer",
        caller=caller,
        title="Projections",
        session_admin=admin,
    )


@get("/admin/people", include_in_schema=False)
async def admin_people_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template:
    caller = await caller_of(request, services)
    admin = caller is not None and caller.identity.at_least("admin")
    return await page(
        request,
        services,
        "admin_people.html",
        "admin_people",
        caller=caller,
        title="People",
        is_admin=admin,
    )


@get("/admin/schedules", include_in_schema=False)
async def admin_schedules_page(
    request: Request[Any, Any, Any], services: ServicesDep
) -> Template | Redirect:
    caller = await caller_of(request, services)
    if caller is None:
        return Redirect("/signin?next=/admin/schedules")
    if not caller.identity.at_least("admin"):
        return Redirect("/")
    return await page(
        request,
        services,
        "admin_schedules.html",
        "admin_schedules",
        caller=caller,
        title="Schedules",
        time_zone=services.kernel.settings.schedules.time_zone,
    )
