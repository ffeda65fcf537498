"""Where each aggregate lives in the log: `wq.ev.{channel}.{aggregate}.{id}`, one function
per aggregate, so every writer and reader of a stream names it the same way."""

from __future__ import annotations

import hashlib

from application.log.ports import StreamId


def _digest(value: str) -> str:
    """A subject token for an id of any spelling: ids differ in case and in `.`/`:`, which a
    subject token drops, so the id itself would let `A.b` and `ab` share one stream."""
    return hashlib.sha256(value.encode()).hexdigest()[:40]


def queue_stream(channel: str) -> StreamId:
    return StreamId(channel, "queue", channel)


def presence_stream(channel: str) -> StreamId:
    return StreamId(channel, "presence", channel)


def playlist_stream(channel: str, playlist_id: str) -> StreamId:
    return StreamId(channel, "playlist", playlist_id)


def promo_config_stream(channel: str) -> StreamId:
    return StreamId(channel, "promo_config", channel)


def rules_stream(channel: str) -> StreamId:
    return StreamId(channel, "request_rules", channel)


def rule_refusals_stream(channel: str) -> StreamId:
    return StreamId(channel, "rule_refusals", channel)


def otp_stream(channel: str, user_key: str) -> StreamId:
    return StreamId(channel, "otp", user_key)


def access_stream(channel: str, user_key: str) -> StreamId:
    return StreamId(channel, "access", user_key)


def blessed_stream(channel: str) -> StreamId:
    return StreamId(channel, "blessed", channel)


def ip_blocks_stream(channel: str) -> StreamId:
    return StreamId(channel, "ip_blocks", channel)


def purchase_stream(channel: str, request_id: str) -> StreamId:
    """A purchase id's claim: claimed once for ever (domain.queue.pay_claim)."""
    return StreamId(channel, "purchase", _digest(request_id))


def ledger_key_stream(channel: str, key: str) -> StreamId:
    """The local ledger's record of one debit key (what it took or refused, and its refund),
    kept for ever, so the ledger never forgets a key however many requests follow."""
    return StreamId(channel, "ledger_key", _digest(key))


def like_rules_stream(channel: str) -> StreamId:
    return StreamId(channel, "like_rules", channel)


def likes_stream(channel: str, user_key: str) -> StreamId:
    return StreamId(channel, "likes", user_key)


def playlist_names_stream(channel: str) -> StreamId:
    return StreamId(channel, "playlist_names", channel)


def playlist_apply_stream(channel: str) -> StreamId:
    return StreamId(channel, "playlist_apply", channel)


def catalog_stream(channel: str) -> StreamId:
    return StreamId(channel, "catalog", channel)


def schedules_stream(channel: str) -> StreamId:
    return StreamId(channel, "schedules", channel)
