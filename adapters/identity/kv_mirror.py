"""The blessed list in a NATS JetStream KV bucket, for other Kryten services to read.

Bucket `{stream}_BLESSED` (`WEBQUEUE_BLESSED` by default), one key per blessed user:
`{channel}.{user lowercased}` holding JSON `{"user", "by", "at"}`; a key that is gone is a user
who is not blessed. The bucket keeps one revision per key.
"""

from __future__ import annotations

import contextlib

from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from adapters.log.subjects import token


class NatsKvBlessedMirror:
    def __init__(self, nc: Client, bucket: str, *, replicas: int = 1) -> None:
        self._nc = nc
        self.bucket = bucket
        self.replicas = replicas
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            js = self._nc.jetstream()
            try:
                self._kv = await js.key_value(self.bucket)
            except BucketNotFoundError:
                self._kv = await js.create_key_value(
                    bucket=self.bucket, history=1, replicas=self.replicas
                )
        return self._kv

    @staticmethod
    def key(channel: str, user_key: str) -> str:
        return f"{token(channel)}.{user_key}"

    async def put(self, channel: str, user_key: str, value: bytes) -> None:
        kv = await self._bucket()
        key = self.key(channel, user_key)
        with contextlib.suppress(KeyNotFoundError):
            held = await kv.get(key)
            if held.value == value:
                return
        await kv.put(key, value)

    async def delete(self, channel: str, user_key: str) -> None:
        kv = await self._bucket()
        await kv.delete(self.key(channel, user_key))

    async def keys(self, channel: str) -> set[str]:
        kv = await self._bucket()
        prefix = f"{token(channel)}."
        try:
            names = await kv.keys()
        except NoKeysError:
            return set()
        return {k[len(prefix) :] for k in names if k.startswith(prefix)}
