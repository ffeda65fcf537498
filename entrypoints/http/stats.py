"""Channel stats over HTTP: totals, and the most played media in a window (any valid token);
purchases and spend per viewer (admins: 403 for others)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from application.identity.roles import require
from application.stats.queries import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ChannelStats,
    InvalidWindow,
    TopItem,
    ViewersSpend,
)
from entrypoints.http.auth import BEARER, IdentityDep
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel


class StatsController(Controller):
    path = "/api/v1/channels/{channel:str}/stats"
    tags = ["stats"]
    security = BEARER

    @get("/", summary="Totals: queued, played by kind, paid by tier, money in and back, promos")
    async def summary(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> ChannelStats:
        return await services.stats.queries.summary(await known_channel(services, channel))

    @get(
        "/viewers",
        summary="Purchases and spend per viewer (admins): made, declined, played, refunded, "
        "coins captured, refunded and spent",
    )
    async def viewers(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> ViewersSpend:
        require(identity, "admin")
        return await services.stats.queries.viewers(await known_channel(services, channel))

    @get(
        "/top-played",
        summary="Most played media, all time or in a window (since/until in RFC 3339, or window)",
    )
    async def top_played(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        since: Annotated[
            str | None,
            QueryParameter(
                name="since",
                max_length=64,
                description="Start (inclusive), RFC 3339, e.g. 2026-11-20T21:00:00Z",
            ),
        ] = None,
        until: Annotated[
            str | None,
            QueryParameter(name="until", max_length=64, description="End (exclusive), RFC 3339"),
        ] = None,
        window: Annotated[
            str | None,
            QueryParameter(
                name="window",
                max_length=16,
                description="Back from now instead of since/until: 30m, 12h, 7d, 2w",
            ),
        ] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> list[TopItem]:
        await known_channel(services, channel)
        try:
            start, end = services.stats.queries.window(since, until, window)
        except InvalidWindow as exc:
            raise ValidationException(
                detail=exc.message,
                extra=[{"key": exc.field, "message": exc.message, "source": "query"}],
            ) from exc
        return await services.stats.queries.top_played(channel, start, end, limit)
