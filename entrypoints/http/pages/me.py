"""The signed-in person's own page: wallet, purchases (cancel a pending one), sessions."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template

from entrypoints.http.pages.layout import caller_of, page
from entrypoints.http.params import ServicesDep


@get("/me", include_in_schema=False)
async def me_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template | Redirect:
    caller = await caller_of(request, services)
    if caller is None:
        return Redirect("/signin?next=/me")
    return await page(request, services, "me.html", "me_page", caller=caller, title="My purchases")
