"""Where each aggregate lives in the log: `wq.ev.{channel}.{aggregate}.{id}`, one function
per aggregate, so every writer and reader of a stream names it the same way."""

from __future__ import annotations

from application.log.ports import StreamId


def queue_stream(channel: str) -> StreamId:
    return StreamId(channel, "queue", channel)


def presence_stream(channel: str) -> StreamId:
    return StreamId(channel, "presence", channel)


def playlist_stream(channel: str, playlist_id: str) -> StreamId:
    return StreamId(channel, "playlist", playlist_id)


def promo_config_stream(channel: str) -> StreamId:
    return StreamId(channel, "promo_config", channel)


def otp_stream(channel: str, user_key: str) -> StreamId:
    return StreamId(channel, "otp", user_key)


def access_stream(channel: str, user_key: str) -> StreamId:
    return StreamId(channel, "access", user_key)


def blessed_stream(channel: str) -> StreamId:
    return StreamId(channel, "blessed", channel)


def ip_blocks_stream(channel: str) -> StreamId:
    return StreamId(channel, "ip_blocks", channel)


def catalog_stream(channel: str) -> StreamId:
    return StreamId(channel, "catalog", channel)
