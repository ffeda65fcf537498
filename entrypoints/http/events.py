"""`GET /api/v1/events`: the log's events for analysts, one JSON object per line (admin only).

Rows have the shape of `webqueue replay`'s, in log order, and are paged by log position: pass
`X-Next-After-Position` as `after_position` to get the next page. A commit is never split
between pages. The page is read before the answer starts (the headers name where it ends; it
holds at most `limit` rows), then streamed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.datastructures import ResponseHeader
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from litestar.response import Stream

from adapters.log.subjects import token
from application.identity.roles import require
from application.log.replay import (
    DEFAULT_PAGE,
    MAX_PAGE,
    BadReplayQuery,
    EventRow,
    page,
    replay_query,
)
from entrypoints.http.auth import BEARER, IdentityDep
from entrypoints.http.params import ServicesDep

NDJSON = "application/x-ndjson"
NEXT_AFTER = "X-Next-After-Position"
LOG_HEAD = "X-Log-Head"
_CHUNK = 500

_encoder = msgspec.json.Encoder()


def _lines(rows: list[EventRow]) -> Iterator[bytes]:
    for start in range(0, len(rows), _CHUNK):
        yield _encoder.encode_lines(rows[start : start + _CHUNK])


def bad_query(key: str, exc: ValueError) -> ValidationException:
    """A 400 in the one error format, naming the query parameter."""
    return ValidationException(
        detail=str(exc), extra=[{"key": key, "message": str(exc), "source": "query"}]
    )


class EventsController(Controller):
    path = "/api/v1/events"
    tags = ["events"]
    security = BEARER

    @get(
        "/",
        summary="The log's events as NDJSON, one row per event, paged by position (admin only)",
        description="Rows: position, at, channel, aggregate, aggregate_id, commit_id, version, "
        "actor, type, v, data (the event's JSON), in log order, each event once.",
        media_type=NDJSON,
        response_headers=[
            ResponseHeader(
                name=NEXT_AFTER,
                documentation_only=True,
                description="Pass as after_position for the next page; it equals X-Log-Head "
                "once the page reached the head.",
            ),
            ResponseHeader(
                name=LOG_HEAD,
                documentation_only=True,
                description="The log head this page was read against.",
            ),
        ],
    )
    async def events(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Annotated[
            str | None,
            QueryParameter(name="channel", max_length=200, description="Only this channel."),
        ] = None,
        since: Annotated[
            str | None,
            QueryParameter(
                name="since",
                max_length=64,
                description="An RFC 3339 time (commits at or after it) or a log position "
                "(commits after it).",
            ),
        ] = None,
        until: Annotated[
            str | None,
            QueryParameter(
                name="until",
                max_length=64,
                description="An RFC 3339 time (commits before it) or a log position (commits "
                "up to and including it).",
            ),
        ] = None,
        types: Annotated[
            list[str] | None,
            QueryParameter(
                name="type", description="Event type names; repeat it or separate by commas."
            ),
        ] = None,
        after_position: Annotated[
            int,
            QueryParameter(
                name="after_position",
                ge=0,
                description="Rows of commits after this position: the last page's "
                "X-Next-After-Position.",
            ),
        ] = 0,
        limit: Annotated[
            int,
            QueryParameter(
                name="limit",
                ge=1,
                le=MAX_PAGE,
                description="Rows per page at most; a commit is never split, so a page may "
                "stop short (or hold one commit with more events than this).",
            ),
        ] = DEFAULT_PAGE,
    ) -> Stream:
        require(identity, "admin")
        if channel:
            try:
                token(channel)
            except ValueError as exc:
                raise bad_query("channel", exc) from None
        try:
            query = replay_query(
                channel=channel, since=since, until=until, types=types, after=after_position
            )
        except BadReplayQuery as exc:
            raise bad_query(exc.field, exc) from None
        found = await page(
            services.kernel.log.events, services.kernel.log.codec.encode_event, query, limit
        )
        return Stream(
            _lines(found.rows),
            media_type=NDJSON,
            headers={NEXT_AFTER: str(found.next_after), LOG_HEAD: str(found.head)},
        )
