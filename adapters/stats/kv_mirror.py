"""The channel's stats in a NATS JetStream KV bucket, for other Kryten services to read.

Bucket `{stream}_STATS` (`WEBQUEUE_STATS` by default), keys `{channel}.{key}` with the keys
and JSON values of docs/stats-kv.md; one revision kept per key.
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from adapters.log.subjects import token


class NatsKvStatsBucket:
    def __init__(self, nc: Client, bucket: str, channel: str, *, replicas: int = 1) -> None:
        self._nc = nc
        self.bucket = bucket
        self.replicas = replicas
        self._prefix = f"{token(channel)}."
        self._kv: KeyValue | None = None

    async def _open(self) -> KeyValue:
        if self._kv is None:
            js = self._nc.jetstream()
            try:
                self._kv = await js.key_value(self.bucket)
            except BucketNotFoundError:
                self._kv = await js.create_key_value(
                    bucket=self.bucket, history=1, replicas=self.replicas
                )
        return self._kv

    async def put(self, key: str, value: bytes) -> None:
        kv = await self._open()
        await kv.put(self._prefix + key, value)

    async def delete(self, key: str) -> None:
        kv = await self._open()
        await kv.delete(self._prefix + key)

    async def keys(self) -> set[str]:
        kv = await self._open()
        try:
            names = await kv.keys()
        except NoKeysError:
            return set()
        return {k[len(self._prefix) :] for k in names if k.startswith(self._prefix)}
