"""`GET /api/v1/media/parse?link=`: a CyTube-style link as media type and id (the buy page
parses links itself with the same rules; this is the server's word on it)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from domain.media_links import LinkProblem, parse_media_link


class Parsed(msgspec.Struct):
    media_type: str
    media_id: str


class MediaLinkController(Controller):
    path = "/api/v1/media"
    tags = ["media"]

    @get("/parse", summary="A media link as CyTube's media type and id")
    async def parse(
        self, link: Annotated[str, QueryParameter(name="link", min_length=1, max_length=1000)]
    ) -> Parsed:
        try:
            parsed = parse_media_link(link)
        except LinkProblem as exc:
            raise ValidationException(
                detail=str(exc), extra=[{"key": "link", "message": str(exc), "source": "query"}]
            ) from None
        return Parsed(parsed.media_type, parsed.media_id)
