"""Signing in: a CyTube name, a code by PM, and on the embedded default a demo panel that
joins the simulated channel and shows its PMs."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from entrypoints.http.pages.layout import page
from entrypoints.http.params import ServicesDep


@get("/signin", include_in_schema=False)
async def signin_page(request: Request[Any, Any, Any], services: ServicesDep) -> Template:
    following = request.query_params.get("next", "/")
    if not following.startswith("/") or following.startswith("//"):
        following = "/"  # never a way off this site
    rules = services.identity.config.otp
    return await page(
        request,
        services,
        "signin.html",
        "signin_page",
        title="Sign in",
        next_page=following,
        ttl_min=rules.ttl_sec // 60,
        block_hours=rules.block_sec // 3600,
    )
