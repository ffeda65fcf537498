"""The Litestar app factory: routes, dependencies and the error mapping, over built services."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig

from entrypoints.http.admin import AdminController
from entrypoints.http.auth import AUTH_DEPENDENCIES, AUTH_EXCEPTION_HANDLERS, TokenController
from entrypoints.http.catalog import CatalogController
from entrypoints.http.errors import EXCEPTION_HANDLERS, error_body
from entrypoints.http.events import EventsController
from entrypoints.http.hardening import hardened
from entrypoints.http.health import health
from entrypoints.http.identity import BlessedController, SessionController, SignInController
from entrypoints.http.likes import LikesController
from entrypoints.http.limits import WsLimits
from entrypoints.http.media_links import MediaLinkController
from entrypoints.http.metrics import metrics_handler
from entrypoints.http.names import NAME_EXCEPTION_HANDLERS, names_at_the_edge
from entrypoints.http.pages import TEMPLATES, page_routes
from entrypoints.http.pay import PayController
from entrypoints.http.playlists import ApplyController, MarathonController, PlaylistController
from entrypoints.http.promos import PromoController
from entrypoints.http.purchases import PurchasesController
from entrypoints.http.queue import QueueController
from entrypoints.http.rules import RulesController
from entrypoints.http.schedules import ScheduleController
from entrypoints.http.schema_page import OfflineSchemaPage
from entrypoints.http.sim import QueueFailed, SimController
from entrypoints.http.sim_demo import SimDemoController
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

    handlers: list[Any] = [
        health,
        *page_routes(),
        metrics_handler,
        QueueController,
        PayController,
        TokenController,
        PlaylistController,
        MarathonController,
        ApplyController,
        PromoController,
        RulesController,
        ScheduleController,
        AdminController,
        SignInController,
        SessionController,
        BlessedController,
        PurchasesController,
        MediaLinkController,
        StatsController,
        LikesController,
        EventsController,
        CatalogController,
    ]
    if services.cytube.simulator is not None:
        handlers.extend([SimController, SimDemoController])
    return Litestar(
        route_handlers=handlers,
        state=State({"ws_limits": WsLimits(services.kernel.settings.http_limits)}),
        request_max_body_size=services.kernel.settings.http_limits.max_body_bytes,
        guards=[names_at_the_edge, admitted],
        dependencies={
            "services": Provide(lambda: services, sync_to_thread=False),
            **AUTH_DEPENDENCIES,
        },
        **hardened(
            {
                **EXCEPTION_HANDLERS,
                **AUTH_EXCEPTION_HANDLERS,
                **NAME_EXCEPTION_HANDLERS,
                QueueFailed: _queue_failed,
            }
        ),
        openapi_config=OpenAPIConfig(
            title="webqueue",
            version=webqueue_version(),
            description="Event-sourced core of a CyTube channel's web queue.",
            path="/schema",
            render_plugins=[OfflineSchemaPage()],
        ),
        template_config=TEMPLATES,
    )
