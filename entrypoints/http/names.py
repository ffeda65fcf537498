"""Names in a path are checked, and a channel made canonical, before any handler sees them.

One guard for every route, so no handler can forget it: the `channel` path parameter must be a
CyTube channel name and is replaced by its lowercase form; the user path parameters (`user`, or
what a route's `opt["user_params"]` names) must be CyTube user names. See `domain.names`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from domain.names import InvalidName, channel_name, user_name
from entrypoints.http.errors import error_body

USER_PARAMS = ("user",)


async def names_at_the_edge(
    connection: ASGIConnection[Any, Any, Any, Any], route: BaseRouteHandler
) -> None:
    params = connection.scope.get("path_params") or {}
    if isinstance(params.get("channel"), str):
        params["channel"] = channel_name(params["channel"])
    for key in route.opt.get("user_params", USER_PARAMS):
        if isinstance(params.get(key), str):
            user_name(params[key])


def _invalid_name(_: Request[Any, Any, Any], exc: InvalidName) -> Response[Any]:
    return Response(error_body(exc.code, exc.message), status_code=400)


NAME_EXCEPTION_HANDLERS: dict[Any, Any] = {InvalidName: _invalid_name}
