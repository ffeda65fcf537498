"""msgspec JSON for commits and events: one reusable encoder, one cached decoder per type.

Events are tagged `{type, v, data}`. An event stored at an older version passes through the
upcasters registered for it, one version step at a time, before it is decoded into today's class.
A type this build does not know decodes to `UnknownEvent` so an older reader can still replay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import msgspec
from attrs import frozen

from application.log.ports import Commit, StreamId
from domain.registry import EVENT_TYPES

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class CodecError(ValueError):
    """Bytes in the log that are not a commit."""


@frozen
class UnknownEvent:
    type: str
    v: int
    data: dict[str, Any]


class EventWire(msgspec.Struct, frozen=True):
    type: str
    v: int
    data: msgspec.Raw


class CommitWire(msgspec.Struct, frozen=True):
    commit_id: str
    channel: str
    aggregate: str
    aggregate_id: str
    version: int
    at: datetime
    actor: str
    events: list[EventWire]
    causation_id: str | None = None
    correlation_id: str | None = None


class Codec:
    def __init__(
        self,
        event_types: Mapping[str, type] = EVENT_TYPES,
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
    ) -> None:
        self._types = dict(event_types)
        self._names = {cls: name for name, cls in self._types.items()}
        self._upcasters = dict(upcasters or {})
        self._encoder = msgspec.json.Encoder()
        self._commit_decoder = msgspec.json.Decoder(CommitWire)
        self._event_decoders: dict[type, msgspec.json.Decoder[Any]] = {}

    def encode_event(self, event: object) -> EventWire:
        if isinstance(event, UnknownEvent):
            return EventWire(event.type, event.v, msgspec.Raw(self._encoder.encode(event.data)))
        cls = type(event)
        if cls not in self._names:
            raise CodecError(f"{cls.__name__} is not a registered event type")
        return EventWire(self._names[cls], cls.VERSION, msgspec.Raw(self._encoder.encode(event)))

    def decode_event(self, wire: EventWire) -> object:
        cls = self._types.get(wire.type)
        if cls is None:
            return UnknownEvent(wire.type, wire.v, msgspec.json.decode(wire.data))
        if wire.v == cls.VERSION:
            decoder = self._event_decoders.get(cls)
            if decoder is None:
                decoder = self._event_decoders[cls] = msgspec.json.Decoder(cls)
            return decoder.decode(wire.data)
        return msgspec.convert(self._upcast(wire), cls)

    def _upcast(self, wire: EventWire) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.json.decode(wire.data)
        version = wire.v
        target = self._types[wire.type].VERSION
        while version < target:
            step = self._upcasters.get((wire.type, version))
            if step is None:
                raise CodecError(f"no upcaster for {wire.type} v{version}")
            data = step(data)
            version += 1
        return data

    def encode_commit(self, commit: Commit) -> bytes:
        return self._encoder.encode(
            CommitWire(
                commit_id=commit.commit_id,
                channel=commit.stream.channel,
                aggregate=commit.stream.aggregate,
                aggregate_id=commit.stream.id,
                version=commit.version,
                at=commit.at,
                actor=commit.actor,
                events=[self.encode_event(e) for e in commit.events],
                causation_id=commit.causation_id,
                correlation_id=commit.correlation_id,
            )
        )

    def decode_commit(self, data: bytes) -> Commit:
        try:
            wire = self._commit_decoder.decode(data)
            events = tuple(self.decode_event(e) for e in wire.events)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CodecError(f"not a commit: {exc}") from exc
        return Commit(
            commit_id=wire.commit_id,
            stream=StreamId(wire.channel, wire.aggregate, wire.aggregate_id),
            version=wire.version,
            at=wire.at,
            actor=wire.actor,
            events=events,
            causation_id=wire.causation_id,
            correlation_id=wire.correlation_id,
        )
