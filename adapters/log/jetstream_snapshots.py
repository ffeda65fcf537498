"""The SnapshotStore on a JetStream KV bucket (`WEBQUEUE_SNAPSHOTS`): one key per aggregate
stream, `{channel}.{aggregate}.{id}` in the log's own subject tokens, one revision kept.

A value is msgspec JSON: `{schema, position, version, state}`. `schema` names the format, the
aggregate, its state class and a fingerprint of that class's layout (msgspec's JSON schema of
it, descriptions left out), plus a revision number to bump by hand when `evolve` changes what a
state means without changing its shape. A snapshot whose tag is not exactly this build's is
ignored, never misread: the handler then folds from the start and writes a fresh one.

Mappings in states (`PresenceState.users`, `WalletState.requests`) are read-only
`MappingProxyType`s built by attrs converters. They are written as JSON objects, and because
msgspec builds attrs instances without running converters, a decoded state is passed through
its class once more (`attrs.evolve`) so it holds the same read-only mappings a fold would.

Writes never replace a newer snapshot: a put reads the current revision and updates only if the
stored position is older (compare-and-set on the KV revision), so two writers cannot regress it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs
import msgspec
import nats.js.errors
from nats.aio.client import Client
from nats.js import api
from nats.js.kv import KeyValue

from adapters.log.subjects import token
from application.log.ports import StreamId
from application.log.snapshots import Snapshot
from domain.playlists.model import PlaylistState
from domain.presence.model import PresenceState
from domain.promos.config import PromoConfigState
from domain.queue.state import QueueState
from domain.wallet.model import WalletState

log = logging.getLogger(__name__)

BUCKET = "WEBQUEUE_SNAPSHOTS"
FORMAT = "wq-snapshot/1"

# The state class of each aggregate (the `aggregate` token of its log subject).
STATE_TYPES: Mapping[str, type] = {
    "queue": QueueState,
    "presence": PresenceState,
    "wallet": WalletState,
    "playlist": PlaylistState,
    "promo_config": PromoConfigState,
}

# Bump an aggregate's number when its evolve changes meaning without changing the state's shape.
STATE_REVISIONS: Mapping[str, int] = {}


class SnapshotWire(msgspec.Struct, frozen=True):
    schema: str
    position: int
    version: int
    state: msgspec.Raw


def _without_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_descriptions(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_without_descriptions(v) for v in value]
    return value


def fingerprint(state_type: type) -> str:
    """A short digest of the state class's layout: field names, types, nested classes."""
    schema = _without_descriptions(msgspec.json.schema(state_type))
    return hashlib.sha256(msgspec.json.encode(schema, order="sorted")).hexdigest()[:16]


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, MappingProxyType):
        return dict(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__} in a snapshot")


class SnapshotCodec:
    def __init__(
        self,
        state_types: Mapping[str, type] = STATE_TYPES,
        revisions: Mapping[str, int] = STATE_REVISIONS,
    ) -> None:
        self._types = dict(state_types)
        self._tags = {
            aggregate: (
                f"{FORMAT}:{aggregate}:{cls.__name__}:{fingerprint(cls)}"
                f":r{revisions.get(aggregate, 1)}"
            )
            for aggregate, cls in self._types.items()
        }
        self._decoders = {a: msgspec.json.Decoder(cls) for a, cls in self._types.items()}
        self._rebuild = {
            a: any(f.converter is not None for f in attrs.fields(cls))
            for a, cls in self._types.items()
        }
        self._encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
        self._wire = msgspec.json.Decoder(SnapshotWire)

    def tag(self, aggregate: str) -> str | None:
        return self._tags.get(aggregate)

    def encode(self, aggregate: str, snapshot: Snapshot) -> bytes:
        tag = self._tags.get(aggregate)
        if tag is None:
            raise ValueError(f"no state type registered for aggregate {aggregate!r}")
        state = msgspec.Raw(self._encoder.encode(snapshot.state))
        return self._encoder.encode(SnapshotWire(tag, snapshot.position, snapshot.version, state))

    def position_of(self, data: bytes) -> int | None:
        """The position a stored value reflects, whatever its schema (None if unreadable)."""
        try:
            return self._wire.decode(data).position
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def decode(self, aggregate: str, data: bytes) -> Snapshot | None:
        """The snapshot, or None when it is not one this build wrote the same way."""
        tag = self._tags.get(aggregate)
        try:
            wire = self._wire.decode(data)
            if tag is None or wire.schema != tag:
                log.info(
                    "ignoring a %s snapshot of schema %r (this build: %r)",
                    aggregate,
                    wire.schema,
                    tag,
                )
                return None
            state = self._decoders[aggregate].decode(wire.state)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("ignoring an unreadable %s snapshot: %s", aggregate, exc)
            return None
        if self._rebuild[aggregate]:
            state = attrs.evolve(state)  # run the converters msgspec skipped
        return Snapshot(wire.position, wire.version, state)


def snapshot_key(stream: StreamId) -> str:
    return f"{token(stream.channel)}.{token(stream.aggregate)}.{token(stream.id)}"


class JetStreamSnapshotStore:
    def __init__(
        self,
        nc: Client,
        *,
        bucket: str = BUCKET,
        codec: SnapshotCodec | None = None,
        timeout: float = 5.0,
        replicas: int = 1,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._bucket = bucket
        self._replicas = replicas
        self._codec = codec or SnapshotCodec()
        self._kv: KeyValue | None = None

    @property
    def bucket(self) -> str:
        return self._bucket

    async def ensure_bucket(self) -> None:
        """Bind the bucket, creating it (file storage, one revision per key) when missing."""
        try:
            self._kv = await self._js.key_value(self._bucket)
        except nats.js.errors.BucketNotFoundError:
            self._kv = await self._js.create_key_value(
                api.KeyValueConfig(
                    bucket=self._bucket,
                    description="webqueue aggregate snapshots (a cache: safe to delete)",
                    history=1,
                    storage=api.StorageType.FILE,
                    replicas=self._replicas,
                )
            )

    async def _bucket_kv(self) -> KeyValue:
        if self._kv is None:
            await self.ensure_bucket()
        assert self._kv is not None
        return self._kv

    async def get(self, stream: StreamId) -> Snapshot | None:
        if not self._nc.is_connected:
            return None  # a cache: without it the load reads the log, which fails fast now
        kv = await self._bucket_kv()
        try:
            entry = await kv.get(snapshot_key(stream))
        except nats.js.errors.KeyNotFoundError:  # also a deleted key
            return None
        if not entry.value:
            return None
        return self._codec.decode(stream.aggregate, entry.value)

    async def put(self, stream: StreamId, snapshot: Snapshot) -> None:
        if not self._nc.is_connected:
            return  # the next snapshot will do
        kv = await self._bucket_kv()
        key = snapshot_key(stream)
        data = self._codec.encode(stream.aggregate, snapshot)
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            entry = None
        try:
            if entry is None or entry.revision is None:
                await kv.create(key, data)
                return
            stored = self._codec.position_of(entry.value) if entry.value else None
            if stored is not None and stored >= snapshot.position:
                return  # someone already holds a newer (or the same) one
            await kv.update(key, data, last=entry.revision)
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            log.debug("snapshot of %s not written, another writer was first: %s", key, exc)
