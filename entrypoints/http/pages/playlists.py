"""The playlists page: saved playlists (everyone signed in reads the normal ones), and for
blessed users the editor, the marathon builder and applying a playlist to the queue."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template

from entrypoints.http.pages.layout import caller_of, page
from entrypoints.http.params import ServicesDep


@get("/playlists", include_in_schema=False)
async def playlists_page(
    request: Request[Any, Any, Any], services: ServicesDep
) -> Template | Redirect:
    caller = await caller_of(request, services)
    if caller is None:
        return Redirect("/signin?next=/playlists")
    return await page(
        request,
        services,
        "playlists.html",
        "playlists_page",
        caller=caller,
        title="Playlists",
        editor=caller.identity.at_least("blessed"),
    )
