"""Likes over HTTP: like what plays now (any signed-in user), the live count (everyone), for
blessed users and admins the likes of an item or a medium, likes over time and top liked, and the
like rules (anyone signed in reads them; admins change them, in effect on the next like)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.exceptions import ValidationException
from litestar.params import Body, FromPath, JSONBody, QueryParameter

from application.errors import NotFoundError
from application.likes.queries import (
    Bucket,
    ItemLikes,
    LikedMedia,
    LikesOverTime,
    NowLiked,
)
from application.likes.service import LikeReceipt
from application.stats.queries import DEFAULT_LIMIT, MAX_LIMIT, InvalidWindow
from domain.errors import Rejected
from domain.likes.model import LikeRefused
from entrypoints.http.auth import BEARER, IdentityDep
from entrypoints.http.errors import REJECTION_STATUS, error_body
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel
from entrypoints.like_rules_bodies import LikeRulesBody, LikeRulesPatch, like_rules_body, patched
from entrypoints.schemas import LikeItem
from entrypoints.services import Services

#: A like's refusals: what is playing moved on (409), or the rules say not yet (409, 429).
LIKE_STATUS = {
    "nothing_playing": 409,
    "not_playing": 409,
    "already_liked": 409,
    "like_rate_limited": 429,
}

Since = Annotated[
    str | None,
    QueryParameter(
        name="since",
        max_length=64,
        description="Start (inclusive), RFC 3339, e.g. 2026-11-20T21:00:00Z",
    ),
]
Until = Annotated[
    str | None,
    QueryParameter(name="until", max_length=64, description="End (exclusive), RFC 3339"),
]
Window = Annotated[
    str | None,
    QueryParameter(
        name="window",
        max_length=16,
        description="Back from now instead of since/until: 30m, 12h, 7d, 2w",
    ),
]


def _refused(_: Request[Any, Any, Any], exc: Rejected) -> Response[Any]:
    """A like's refusals with their status; one that clears by itself says when (`until`,
    and `Retry-After`). Any other refusal as the app maps it."""
    status = LIKE_STATUS.get(exc.code) or REJECTION_STATUS.get(exc.code, 422)
    if not isinstance(exc, LikeRefused):
        return Response(error_body(exc.code, exc.message, **exc.extra), status_code=status)
    wait = max(1, math.ceil(exc.retry_after_sec))
    return Response(
        error_body(exc.code, exc.message, until=exc.until.isoformat(), retry_after_sec=wait),
        status_code=status,
        headers={"Retry-After": str(wait)},
    )


def _this_channel(services: Services, channel: str) -> None:
    if channel != services.kernel.settings.channel:
        raise NotFoundError(
            "unknown_channel", f"Likes are taken for {services.kernel.settings.channel!r} only."
        )


def _window(services: Services, since: str | None, until: str | None, window: str | None) -> Any:
    try:
        return services.likes.queries.window(since, until, window)
    except InvalidWindow as exc:
        raise ValidationException(
            detail=exc.message,
            extra=[{"key": exc.field, "message": exc.message, "source": "query"}],
        ) from exc


class LikesController(Controller):
    path = "/api/v1/channels/{channel:str}/likes"
    tags = ["likes"]
    exception_handlers = {Rejected: _refused}

    @post(
        "/",
        summary="Like what is playing now (any signed-in user; rate limited, one per medium "
        "in the dedupe window)",
        status_code=201,
        security=BEARER,
    )
    async def like(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: Annotated[LikeItem | None, Body()] = None,
    ) -> LikeReceipt:
        _this_channel(services, await known_channel(services, channel))
        return await services.likes.service.like(identity, None if data is None else data.item_id)

    @get("/rules", summary="The like rules in effect (anyone signed in)", security=BEARER)
    async def get_rules(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> LikeRulesBody:
        _this_channel(services, await known_channel(services, channel))
        return like_rules_body(await services.likes.service.current_rules())

    @put(
        "/rules",
        summary="Change the like rules (admin): the fields given, in effect on the next like; "
        "422 names a bad field",
        security=BEARER,
    )
    async def put_rules(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[LikeRulesPatch],
    ) -> LikeRulesBody:
        _this_channel(services, await known_channel(services, channel))
        service = services.likes.service
        changed = patched(await service.current_rules(), data)
        return like_rules_body(await service.rules.set_rules(channel, identity, changed))

    @get("/now", summary="What plays now and how many likes this play has (everyone)")
    async def now(self, services: ServicesDep, channel: Channel) -> NowLiked:
        return await services.likes.queries.now(await known_channel(services, channel))

    @get(
        "/top-liked",
        summary="Most liked media, all time or in a window (blessed and admins)",
        security=BEARER,
    )
    async def top_liked(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        since: Since = None,
        until: Until = None,
        window: Window = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> list[LikedMedia]:
        await known_channel(services, channel)
        start, end = _window(services, since, until, window)
        return await services.likes.queries.top_liked(identity, channel, start, end, limit)

    @get(
        "/over-time",
        summary="Likes per hour or per day (UTC) in a window (blessed and admins)",
        security=BEARER,
    )
    async def over_time(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        since: Since = None,
        until: Until = None,
        window: Window = None,
        bucket: Annotated[Bucket, QueryParameter(name="bucket")] = "day",
    ) -> LikesOverTime:
        await known_channel(services, channel)
        start, end = _window(services, since, until, window)
        return await services.likes.queries.over_time(identity, channel, start, end, bucket)

    @get(
        "/items/{item_id:str}",
        summary="The likes of one queue item, one play (blessed and admins)",
        security=BEARER,
    )
    async def item(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, item_id: FromPath[str]
    ) -> ItemLikes:
        await known_channel(services, channel)
        found = await services.likes.queries.item(identity, channel, item_id)
        if found is None:
            raise NotFoundError("not_liked", f"Item {item_id!r} has no likes.")
        return found

    @get(
        "/media/{media_type:str}/{media_id:str}",
        summary="The likes of one medium over all its plays, all time or in a window "
        "(blessed and admins)",
        security=BEARER,
    )
    async def media(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        media_type: FromPath[str],
        media_id: FromPath[str],
        since: Since = None,
        until: Until = None,
        window: Window = None,
    ) -> LikedMedia:
        await known_channel(services, channel)
        start, end = _window(services, since, until, window)
        found = await services.likes.queries.media(
            identity, channel, media_type, media_id, start, end
        )
        if found is None:
            raise NotFoundError("not_liked", f"{media_type}:{media_id} has no likes in that time.")
        return found
