"""The EventStore on NATS JetStream: one stream, one message per commit, OCC per subject.

Append publishes with `Nats-Expected-Last-Subject-Sequence` (a stale writer gets error 10071,
raised as ConcurrencyConflict) and `Nats-Msg-Id = commit_id` (JetStream drops a repeat within
the stream's duplicate window and acks it with the first one's sequence). The expected-sequence
check runs first, so on a conflict we also look for the commit id among the commits we missed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from adapters.codec import Codec
from adapters.subjects import channel_filter, event_subject
from application.ports import (
    AppendResult,
    Commit,
    ConcurrencyConflict,
    StoredCommit,
    StoreUnavailable,
    StreamId,
)

WRONG_LAST_SEQUENCE = 10071
_UNAVAILABLE = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError,
)


class JetStreamEventStore:
    def __init__(
        self,
        nc: Client,
        *,
        stream: str = "WEBQUEUE",
        prefix: str = "wq.ev",
        codec: Codec | None = None,
        duplicate_window_sec: float = 600.0,
        timeout: float = 5.0,
        read_batch: int = 1000,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._stream = stream
        self._prefix = prefix
        self._codec = codec or Codec()
        self._duplicate_window = duplicate_window_sec
        self._timeout = timeout
        self._batch = read_batch

    @property
    def stream_name(self) -> str:
        return self._stream

    async def ensure_stream(self) -> None:
        """Create the stream, or bring an existing one's settings up to date."""
        config = api.StreamConfig(
            name=self._stream,
            subjects=[f"{self._prefix}.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            duplicate_window=self._duplicate_window,
            allow_direct=True,
        )
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self._js.update_stream(config)

    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        headers = {
            api.Header.MSG_ID: commit.commit_id,
            api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected_position),
        }
        try:
            ack = await self._js.publish(
                event_subject(self._prefix, commit.stream),
                self._codec.encode_commit(commit),
                headers=headers,
                timeout=self._timeout,
            )
        except nats.js.errors.APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                return await self._earlier_copy(commit, expected_position, exc)
            raise StoreUnavailable(f"append refused: {exc}") from exc
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc
        return AppendResult(ack.seq, duplicate=bool(ack.duplicate))

    async def _earlier_copy(
        self, commit: Commit, expected_position: int, cause: Exception
    ) -> AppendResult:
        """JetStream checks the expected sequence before its duplicate window, so a retried
        commit whose first try landed looks like a conflict: find that first try instead."""
        for stored in await self.read_stream(commit.stream, after=expected_position):
            if stored.commit.commit_id == commit.commit_id:
                return AppendResult(stored.position, duplicate=True)
        raise ConcurrencyConflict(commit.stream, expected_position) from cause

    def _stored(self, msg: Msg) -> StoredCommit:
        return StoredCommit(msg.metadata.sequence.stream, self._codec.decode_commit(msg.data))

    async def _read(self, subject: str, after: int) -> AsyncIterator[StoredCommit]:
        """Everything on `subject` after a position, up to what was pending when we started."""
        name = f"wq-read-{uuid.uuid4().hex}"
        config = api.ConsumerConfig(
            name=name,
            filter_subject=subject,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60.0,
            mem_storage=True,
            num_replicas=1,
        )
        try:
            info = await self._js.add_consumer(self._stream, config)
            sub = await self._js.pull_subscribe_bind(name, stream=self._stream)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc
        remaining = info.num_pending or 0
        try:
            while remaining > 0:
                try:
                    msgs = await sub.fetch(min(self._batch, remaining), timeout=self._timeout)
                except _UNAVAILABLE as exc:
                    raise StoreUnavailable(f"reading the log stalled: {exc!r}") from exc
                for msg in msgs:
                    remaining = msg.metadata.num_pending or 0
                    yield self._stored(msg)
        finally:
            await _quietly(sub.unsubscribe())
            await _quietly(self._js.delete_consumer(self._stream, name))

    async def read_stream(self, stream: StreamId, after: int = 0) -> list[StoredCommit]:
        return [c async for c in self._read(event_subject(self._prefix, stream), after)]

    async def read_all(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        async for commit in self._read(channel_filter(self._prefix, channel), after):
            yield commit

    async def subscribe(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        """An ordered push consumer: in order, gap-free, and it re-creates itself on reconnect."""
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
        )
        sub = await self._js.subscribe(
            channel_filter(self._prefix, channel),
            stream=self._stream,
            ordered_consumer=True,
            config=config,
        )
        try:
            async for msg in sub.messages:
                yield self._stored(msg)
        finally:
            await _quietly(sub.unsubscribe())

    async def head(self) -> int:
        try:
            info = await self._js.stream_info(self._stream)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc
        return info.state.last_seq


async def _quietly(aw: object) -> None:
    try:
        await aw  # type: ignore[misc]
    except Exception:  # cleanup of a consumer that may already be gone
        return
