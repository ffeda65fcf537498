"""Request bodies that HTTP and the NATS command subjects both validate: one definition, so
both entrypoints refuse the same input with the same rule."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from application.pay.service import TitleNotAccepted
from domain.media import Media
from domain.names import USER_NAME_PATTERN

MediaType = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
MediaId = Annotated[str, Meta(min_length=1, max_length=300)]
Duration = Annotated[int, Meta(ge=1, le=7 * 24 * 3600)]
TierName = Literal["queue", "playnext"]
#: A CyTube user name (domain.names): it becomes part of NATS subjects.
CytubeUser = Annotated[str, Meta(min_length=1, max_length=20, pattern=USER_NAME_PATTERN)]
RequestId = Annotated[str, Meta(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


class BuyItem(msgspec.Struct, forbid_unknown_fields=True):
    """The buyer names the media only: `duration_sec` is a hint for the first price (CyTube's
    length is priced again when the item lands), and a `title` is refused (400
    `title_not_accepted`): titles come from CyTube."""

    media_type: MediaType
    media_id: MediaId
    duration_sec: Duration | None = None
    tier: TierName = "queue"
    title: Annotated[str, Meta(max_length=500)] | None = None
    request_id: RequestId | None = None

    def media(self) -> Media:
        """The media named, or TitleNotAccepted when the buyer tried to name its title too."""
        if self.title is not None:
            raise TitleNotAccepted()
        return Media(self.media_type, self.media_id, "", self.duration_sec or 0)


class Grant(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[int, Meta(ge=1, le=10_000_000)]


class Lock(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, Meta(min_length=1, max_length=200)]
    until: Annotated[datetime, Meta(tz=True)] | None = None  # with a zone: no guessing whose


ItemId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class LikeItem(msgspec.Struct, forbid_unknown_fields=True):
    """`item_id`: the queue item the user saw playing (refused if it no longer plays); left
    out, the like goes to whatever plays now."""

    item_id: ItemId | None = None
