"""The catalog's pages: browse and search (signed in), one item with "buy" (and, for blessed
users, the working-playlist hook), and the admin's refresh with progress and snapshots."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Redirect, Template

from application.errors import NotFoundError
from entrypoints.http.pages.layout import caller_of, page
from entrypoints.http.params import ServicesDep

ItemKey = FromPath[str]


@get("/catalog", include_in_schema=False)
async def catalog_page(
    request: Request[Any, Any, Any], services: ServicesDep
) -> Template | Redirect:
    caller = await caller_of(request, services)
    if caller is None:
        return Redirect("/signin?next=/catalog")
    channel = services.kernel.settings.channel
    categories = await services.catalog.service.categories(channel)
    return await page(
        request,
        services,
        "catalog.html",
        "catalog_page",
        caller=caller,
        title="Catalog",
        categories=categories,
    )


@get("/catalog/items/{key:str}", include_in_schema=False)
async def catalog_item_page(
    request: Request[Any, Any, Any], services: ServicesDep, key: ItemKey
) -> Template | Redirect:
    caller = await caller_of(request, services)
    if caller is None:
        return Redirect(f"/signin?next=/catalog/items/{key}")
    channel = services.kernel.settings.channel
    try:
        item = await services.catalog.service.item(channel, caller.identity, key)
    except NotFoundError:
        item = None
    return await page(
        request,
        services,
        "catalog_item.html",
        "catalog_item_page",
        caller=caller,
        title=item.title if item else "Not in the catalog",
        item=item,
        key=key,
        blessed=caller.identity.at_least("blessed"),
        duration=_duration(item.duration_sec) if item else "",
    )


def _duration(sec: int) -> str:
    """97 min as 1:37:00, 4 min 51 s as 4:51 (as the pages' script writes them)."""
    if sec <= 0:
        return "length unknown"
    hours, rest = divmod(sec, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@get("/admin/catalog", include_in_schema=False)
async def admin_catalog_page(
    request: Request[Any, Any, Any], services: ServicesDep
) -> Template | Redirect:
    caller = await caller_of(request, services)
    if caller is None:
        return Redirect("/signin?next=/admin/catalog")
    if not caller.identity.at_least("admin"):
        return Redirect("/catalog")
    return await page(
        request,
        services,
        "admin_catalog.html",
        "admin_catalog",
        caller=caller,
        title="Catalog refresh",
        source=services.catalog.refresher.source,
        config=services.kernel.settings.catalog,
    )
