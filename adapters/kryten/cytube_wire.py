"""CyTube's playlist item as it travels (in robot events and in robot replies alike)."""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

from domain.media import Media
from domain.queue.commands import ObservedItem

Uid = Annotated[int, msgspec.Meta(ge=0)]


class Malformed(ValueError):
    """A message we cannot trust; the text says why."""


class WireMedia(msgspec.Struct):
    id: str
    type: str
    title: str
    # CyTube sends parseInt(seconds): a JS NaN (unknown length) arrives as null; live media
    # queued with an explicit duration can carry a fraction.
    seconds: Annotated[float, msgspec.Meta(ge=0)] | None


class WireItem(msgspec.Struct):
    media: WireMedia
    uid: Uid
    temp: bool
    queueby: str


def media_of(wire: WireMedia) -> Media:
    if not wire.id.strip():
        raise Malformed("media id is empty")
    if not wire.type.strip():
        raise Malformed("media type is empty")
    seconds = 0 if wire.seconds is None else math.ceil(wire.seconds)
    return Media(type=wire.type, id=wire.id, title=wire.title, duration_sec=seconds)


def observed_item(wire: WireItem) -> ObservedItem:
    return ObservedItem(
        uid=wire.uid, media=media_of(wire.media), temp=wire.temp, queued_by=wire.queueby
    )
