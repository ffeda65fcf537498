"""The Litestar app factory: routes, dependencies and the error mapping, over built services."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig

from entrypoints.http.admin import AdminController, admin_page
from entrypoints.http.auth import AUTH_DEPENDENCIES, AUTH_EXCEPTION_HANDLERS, TokenController
from entrypoints.http.errors import EXCEPTION_HANDLERS, error_body
from entrypoints.http.events import EventsController
from entrypoints.http.health import health
from entrypoints.http.metrics import metrics_handler
from entrypoints.http.pay import PayController
from entrypoints.http.playlists import PlaylistController
from entrypoints.http.promos import PromoController
from entrypoints.http.queue import QueueController
from entrypoints.http.sim import QueueFailed, SimController
from entrypoints.http.stats import StatsController
from entrypoints.services import Services
from entrypoints.version import webqueue_version


def _queue_failed(_: Request[Any, Any, Any], exc: QueueFailed) -> Response[Any]:
    return Response(error_body("queue_fail", exc.message), status_code=409)


def create_app(services: Services) -> Litestar:
    async def admitted(
        connection: ASGIConnection[Any, Any, Any, Any], route: BaseRouteHandler
    ) -> None:
        """A request that changes something waits while the service digests a backlog, and
        is refused as busy (503) if that takes too long (application.log.intake). Reading, and
        the admin's own tools, never wait."""
        if connection.scope["type"] != "http" or route.opt.get("intake") is False:
            return
        if connection.scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            await services.kernel.intake.admit()

    @get("/", media_type="text/html", include_in_schema=False)
    async def index() -> str:
        page = files("entrypoints").joinpath("static/live.html").read_text(encoding="utf-8")
        return page.replace("{{channel}}", services.kernel.settings.channel)

    handlers: list[Any] = [
        health,
        index,
        metrics_handler,
        QueueController,
        PayController,
        TokenController,
        PlaylistController,
        PromoController,
        AdminController,
        admin_page,
        StatsController,
        EventsController,
    ]
    if services.cytube.simulator is not None:
        handlers.append(SimController)
    return Litestar(
        route_handlers=handlers,
        guards=[admitted],
        dependencies={
            "services": Provide(lambda: services, sync_to_thread=False),
            **AUTH_DEPENDENCIES,
        },
        exception_handlers={
            **EXCEPTION_HANDLERS,
            **AUTH_EXCEPTION_HANDLERS,
            QueueFailed: _queue_failed,
        },
        openapi_config=OpenAPIConfig(
            title="webqueue",
            version=webqueue_version(),
            description="Event-sourced core of a CyTube channel's web queue.",
            path="/schema",
        ),
    )
