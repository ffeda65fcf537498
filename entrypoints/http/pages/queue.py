"""The viewers' pages: the live queue (everyone) and buying a slot (signed in)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template

from entrypoints.http.pages.layout import caller_of, page
from entrypoints.http.params import ServicesDep


@get("/", include_in_schema=False)
async def queue_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template:
    return await page(request, services, "queue.html", "queue_page", title="Queue")


@get("/buy", include_in_schema=False)
async def buy_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template | Redirect:
    caller = await caller_of(request, services)
    if caller is None:
        return Redirect("/signin?next=/buy")
    return await page(request, services, "buy.html", "buy_page", caller=caller, title="Buy a slot")
