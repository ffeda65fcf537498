"""Leases in a JetStream KV bucket: `{stream}_LEASES` (`WEBQUEUE_LEASES` by default).

The bucket's max age is the lease TTL and it keeps one revision per key, so an entry nobody
writes again vanishes a TTL after its last write. Acquire is KV create (only if the key is absent
or deleted), renew is KV update with the last revision (compare-and-set), release is a delete
at the revision held. Keys are `channel.<name>` and `projections.<db>`; a name with characters
KV keys cannot hold is keyed by its digest (the value says the name in full). Values are JSON:
`{"name", "holder", "node", "acquired_at", "renewed_at"}`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from datetime import datetime

from nats.aio.client import Client
from nats.js.errors import (
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)
from nats.js.kv import KeyValue

from application.leases.ports import Holding, LeaseEntry

_SAFE = re.compile(r"[-_=a-zA-Z0-9]{1,100}")


def lease_key(name: str) -> str:
    kind, _, rest = name.partition(":")
    if not _SAFE.fullmatch(kind):
        kind = "lease"
    if _SAFE.fullmatch(rest):
        return f"{kind}.{rest}"
    return f"{kind}.x{hashlib.sha256(rest.encode()).hexdigest()[:32]}"


def _encode(name: str, holding: Holding) -> bytes:
    return json.dumps(
        {
            "name": name,
            "holder": holding.holder,
            "node": holding.node,
            "acquired_at": holding.acquired_at.isoformat(),
            "renewed_at": holding.renewed_at.isoformat(),
        }
    ).encode()


def _decode(value: bytes, revision: int) -> LeaseEntry:
    doc = json.loads(value)
    holding = Holding(
        holder=str(doc["holder"]),
        node=str(doc["node"]),
        acquired_at=datetime.fromisoformat(doc["acquired_at"]),
        renewed_at=datetime.fromisoformat(doc["renewed_at"]),
    )
    return LeaseEntry(str(doc["name"]), holding, revision)


class NatsKvLeaseStore:
    def __init__(self, nc: Client, bucket: str, *, ttl_sec: float, replicas: int = 1) -> None:
        self._nc = nc
        self.bucket = bucket
        self._ttl = ttl_sec
        self.replicas = replicas
        self._kv: KeyValue | None = None

    @property
    def ttl_sec(self) -> float:
        return self._ttl

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            js = self._nc.jetstream()
            try:
                kv = await js.key_value(self.bucket)
            except BucketNotFoundError:
                kv = await js.create_key_value(
                    bucket=self.bucket, history=1, ttl=self._ttl, replicas=self.replicas
                )
            else:
                await self._same_ttl(kv)
            self._kv = kv
        return self._kv

    async def _same_ttl(self, kv: KeyValue) -> None:
        """A bucket made with another TTL (the setting changed) is given this one."""
        status = await kv.status()
        if status.ttl is not None and abs(status.ttl - self._ttl) < 0.001:
            return
        js = self._nc.jetstream()
        config = status.stream_info.config
        config.max_age = self._ttl
        await js.update_stream(config)

    async def read(self, name: str) -> LeaseEntry | None:
        kv = await self._bucket()
        try:
            entry = await kv.get(lease_key(name))
        except (KeyNotFoundError, KeyDeletedError):  # absent, lapsed, or released
            return None
        if entry.value is None or entry.revision is None:
            return None
        return _decode(entry.value, entry.revision)

    async def create(self, name: str, holding: Holding) -> int | None:
        kv = await self._bucket()
        try:
            return await kv.create(lease_key(name), _encode(name, holding))
        except KeyWrongLastSequenceError:
            return None

    async def update(self, name: str, holding: Holding, revision: int) -> int | None:
        kv = await self._bucket()
        try:
            return await kv.update(lease_key(name), _encode(name, holding), last=revision)
        except KeyWrongLastSequenceError:
            return None

    async def delete(self, name: str, revision: int) -> None:
        kv = await self._bucket()
        with contextlib.suppress(KeyWrongLastSequenceError):
            await kv.delete(lease_key(name), last=revision)

    async def entries(self) -> list[LeaseEntry]:
        kv = await self._bucket()
        try:
            keys = await kv.keys()
        except NoKeysError:
            return []
        found = []
        for key in keys:
            try:
                entry = await kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                continue
            if entry.value is not None and entry.revision is not None:
                found.append(_decode(entry.value, entry.revision))
        return sorted(found, key=lambda e: e.name)
