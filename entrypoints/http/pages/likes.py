"""The top page: what played most and (for blessed users and admins) what was liked most, in a
time window the viewer picks."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template

from entrypoints.http.pages.layout import caller_of, page
from entrypoints.http.params import ServicesDep

WINDOWS = (
    ("1h", "Last hour"),
    ("1d", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("", "All time"),
)


@get("/top", include_in_schema=False)
async def top_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template | Redirect:
    caller = await caller_of(request, services)
    if caller is None:
        return Redirect("/signin?next=/top")
    return await page(
        request,
        services,
        "top.html",
        "top_page",
        caller=caller,
        title="Top played and liked",
        windows=WINDOWS,
        privileged=caller.identity.at_least("blessed"),
    )
