"""The EventStore on NATS JetStream: one stream, one message per commit, OCC per subject.

Append publishes with `Nats-Expected-Last-Subject-Sequence` (a stale writer gets error 10071,
raised as ConcurrencyConflict) and `Nats-Msg-Id = commit_id` (JetStream drops a repeat within
the stream's duplicate window and acks it with the first one's sequence). The expected-sequence
check runs first, so on a conflict we also look for the commit id among the commits we missed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator

import nats.errors
import nats.js.errors
from attrs import frozen
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api

from adapters.log.codec import Codec
from adapters.log.subjects import channel_filter, event_subject
from application.health import PartHealth
from application.log.ports import (
    AppendResult,
    Commit,
    CommitTooLarge,
    ConcurrencyConflict,
    StoredCommit,
    StoreFull,
    StoreUnavailable,
    StreamId,
)

log = logging.getLogger(__name__)

# A stale expected sequence: 10071 on one server ("wrong last sequence: N"); a clustered
# stream's leader answers 10164, the same refusal without the number.
WRONG_LAST_SEQUENCE = frozenset({10071, 10164})
# Out of room: 10023 "insufficient resources" (the server's or account's storage limit, or its
# disk, reached), 10047 "insufficient storage resources available".
STORAGE_FULL = frozenset({10023, 10047})
# A follower's pull request waits this long for new commits before the server ends it (and we
# ask again); silence beyond it plus the timeout means the consumer is gone.
_FOLLOW_EXPIRES_SEC = 5.0
_RETRY_FIRST_SEC = 0.1
_RETRY_MAX_SEC = 2.0
_HEADROOM = 1024  # the headers (message id, expected sequence) travel in the same message
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
        replicas: int = 1,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)
        self._stream = stream
        self._prefix = prefix
        self._codec = codec or Codec()
        self._duplicate_window = duplicate_window_sec
        self._timeout = timeout
        self._batch = read_batch
        self._replicas = replicas
        self._api_prefix = getattr(self._js, "_prefix", api.DEFAULT_PREFIX)
        self._lost: asyncio.Future[None] | None = None

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
            num_replicas=self._replicas,
        )
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self._js.update_stream(config)

    def _check_connected(self) -> None:
        """Fail at once while the connection is down. nats-py would otherwise buffer the
        publish and send it on reconnect, after we timed out and said nothing was changed."""
        if not self._nc.is_connected:
            raise StoreUnavailable("not connected to NATS (reconnecting)")

    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        self._check_connected()
        headers = {
            api.Header.MSG_ID: commit.commit_id,
            api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected_position),
        }
        data = self._codec.encode_commit(commit)
        limit = self._nc.max_payload - _HEADROOM
        if len(data) > limit:  # nats-py would raise it on publish; say so before, plainly
            raise CommitTooLarge(len(data), limit)
        publishing = asyncio.ensure_future(
            self._js.publish(
                event_subject(self._prefix, commit.stream),
                data,
                headers=headers,
                timeout=self._timeout,
            )
        )
        try:
            ack = await self._unless_disconnected(publishing)
        except nats.js.errors.APIError as exc:
            if exc.err_code in WRONG_LAST_SEQUENCE:
                return await self._earlier_copy(commit, expected_position, exc)
            if exc.err_code in STORAGE_FULL:
                raise StoreFull(f"the event log is out of storage: {exc.description}") from exc
            raise StoreUnavailable(f"append refused: {exc}") from exc
        except nats.errors.MaxPayloadError as exc:
            raise CommitTooLarge(len(data), limit) from exc
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc
        return AppendResult(ack.seq, duplicate=bool(ack.duplicate))

    def connection_lost(self) -> None:
        """Called when the connection drops: appends waiting for an ack give up now rather
        than at their timeout (the ack cannot come; a command queued behind one would wait
        too). Whether such a commit landed is unknown, as after a timeout; its id makes a
        retry land once."""
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        self._lost = None

    async def _unless_disconnected(self, publishing: asyncio.Future[api.PubAck]) -> api.PubAck:
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
        lost = self._lost
        try:
            await asyncio.wait({publishing, lost}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            publishing.cancel()  # our caller was cancelled: no orphaned publish
            raise
        if not publishing.done():
            publishing.cancel()
            raise StoreUnavailable("the connection to NATS dropped before the append was acked")
        return publishing.result()

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
        """Everything on `subject` after a position, until a message says none is pending.

        A pull consumer (AckNone, in memory) whose batches we request ourselves into a plain
        inbox subscription, two batches in flight: nats-py's `fetch` waits for each message in
        turn, which made reading the log several times slower than the server can send it.
        """
        name = f"wq-read-{uuid.uuid4().hex}"
        config = _pull_config(name, subject, after)
        self._check_connected()
        box = _Inbox()
        sub = None
        try:
            info = await self._js.add_consumer(self._stream, config)
            remaining = info.num_pending or 0
            if remaining > 0:
                inbox, sub = await self._subscribe(box)
        except _UNAVAILABLE as exc:
            await _quietly(self._js.delete_consumer(self._stream, name))
            raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc
        next_subject = f"{self._api_prefix}.CONSUMER.MSG.NEXT.{self._stream}.{name}"
        expires_ns = int(max(self._timeout, 1.0) * 1_000_000_000)
        done = asked = 0  # messages yielded; messages asked for in all
        loop = asyncio.get_running_loop()
        progressed = loop.time()

        async def ask_more() -> None:
            nonlocal asked
            while asked < done + remaining and asked - done < 2 * self._batch:
                batch = min(self._batch, done + remaining - asked)
                request = b'{"batch":%d,"expires":%d}' % (batch, expires_ns)
                await self._nc.publish(next_subject, request, reply=inbox)
                asked += batch

        try:
            while remaining > 0:
                if not box.arrived:
                    await ask_more()
                    box.woken.clear()
                    try:
                        # Not asyncio.wait_for: on 3.11 it swallows a cancel that arrives as
                        # the wait completes, and a cancelled reader then never stopped (the
                        # service hung in shutdown, its presence monitor reading on and on).
                        async with asyncio.timeout(self._timeout):
                            await box.woken.wait()
                    except TimeoutError as exc:
                        raise StoreUnavailable("reading the log stalled") from exc
                    continue
                msg = box.arrived.popleft()
                if not msg.reply:  # a status: 404/408 (request ran out) or 409 (refused)
                    status = (msg.headers or {}).get(api.Header.STATUS, "")
                    if status == "503":
                        # No responders yet: on a cluster a consumer just made may not be
                        # served where we ask (a fresh-clone CI run saw it on three nodes).
                        # Ask again shortly, within the store's timeout.
                        await asyncio.sleep(0.05)
                    elif status not in ("404", "408"):
                        description = (msg.headers or {}).get(api.Header.DESCRIPTION, "")
                        raise StoreUnavailable(f"reading the log refused: {status} {description}")
                    if loop.time() - progressed > self._timeout:
                        raise StoreUnavailable("reading the log stalled")
                    asked = done + len(box.arrived)  # what that request did not bring, ask again
                    continue
                progressed = loop.time()
                position, remaining = _position_and_pending(msg)
                done += 1
                yield StoredCommit(position, self._codec.decode_commit(msg.data))
                if asked - done < self._batch:
                    await ask_more()
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"reading the log stalled: {exc!r}") from exc
        finally:
            if sub is not None:
                await _quietly(sub.unsubscribe())
            await _quietly(self._js.delete_consumer(self._stream, name))

    async def read_stream(self, stream: StreamId, after: int = 0) -> list[StoredCommit]:
        """Batched direct gets: one request and no consumer when the stream has nothing new,
        which is the usual answer when a process manager asks for the present. A server that
        does not do batched direct gets is read through a consumer instead."""
        subject = event_subject(self._prefix, stream)
        self._check_connected()
        commits: list[StoredCommit] = []
        try:
            while True:
                got, more = await self._direct_batch_answered(subject, after)
                if got is None:
                    return commits + [c async for c in self._read(subject, after)]
                commits.extend(got)
                if not more or not got:
                    return commits
                after = got[-1].position
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc

    async def _direct_batch_answered(
        self, subject: str, after: int
    ) -> tuple[list[StoredCommit] | None, bool]:
        """`_direct_batch`, asked again while nobody serves the stream's direct gets yet (a
        503 "no responders": on a cluster a stream just created, or between leaders, answers
        so for a moment; a service starting on a new cluster failed on it), for up to the
        store's timeout."""
        deadline = asyncio.get_running_loop().time() + self._timeout
        wait = 0.05
        while True:
            try:
                return await self._direct_batch(subject, after)
            except _NoResponders:
                if asyncio.get_running_loop().time() + wait > deadline:
                    raise
                await asyncio.sleep(wait)
                wait = min(wait * 2, 1.0)

    async def _direct_batch(
        self, subject: str, after: int
    ) -> tuple[list[StoredCommit] | None, bool]:
        """Up to one batch of `subject`'s commits after `after`, and whether more remain.
        (None, False) when the server answers the old, single-message way."""
        inbox = self._nc.new_inbox()
        replies: asyncio.Queue[Msg] = asyncio.Queue()
        sub = await self._nc.subscribe(
            inbox, cb=replies.put, pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        request = b'{"seq":%d,"next_by_subj":"%s","batch":%d}' % (
            after + 1,
            subject.encode(),
            self._batch,
        )
        got: list[StoredCommit] = []
        try:
            await self._nc.publish(
                f"{self._api_prefix}.DIRECT.GET.{self._stream}", request, reply=inbox
            )
            while True:
                async with asyncio.timeout(self._timeout):
                    msg = await replies.get()
                headers = msg.headers or {}
                status = headers.get(api.Header.STATUS)
                if status == "404":
                    return got, False
                if status == "204":  # end of batch
                    return got, int(headers.get("Nats-Num-Pending", "0")) > 0
                if status is not None:
                    description = headers.get(api.Header.DESCRIPTION, "")
                    refused = _NoResponders if status == "503" else StoreUnavailable
                    raise refused(f"reading the log refused: {status} {description}")
                if "Nats-Num-Pending" not in headers:
                    return None, False
                got.append(
                    StoredCommit(int(headers["Nats-Sequence"]), self._codec.decode_commit(msg.data))
                )
        except TimeoutError as exc:
            raise StoreUnavailable("reading the log stalled") from exc
        finally:
            await _quietly(sub.unsubscribe())

    async def read_all(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        async for commit in self._read(channel_filter(self._prefix, channel), after):
            yield commit

    async def subscribe(
        self, after: int = 0, channel: str | None = None
    ) -> AsyncIterator[StoredCommit]:
        """Every commit after `after`, then each new one, for ever.

        Pulled, not pushed: we ask for a batch at a time as the follower takes them, so a
        follower that falls behind leaves its backlog in the log rather than in the server's
        buffer for our connection. (Six push consumers under a flood let that buffer pass
        nats-server's 64 MB limit, and the server cut the whole connection off as a slow
        consumer; on reconnect they pushed the backlog again.) When the connection drops or
        the consumer is lost, a new one starts after the last commit handed out."""
        subject = channel_filter(self._prefix, channel)
        position = after
        pause = _RETRY_FIRST_SEC
        while True:
            try:
                async for stored in self._follow(subject, position):
                    position = stored.position
                    pause = _RETRY_FIRST_SEC
                    yield stored
            except StoreUnavailable as exc:
                if self._nc.is_closed:
                    raise
                log.warning("following the log from %d again: %s", position, exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _RETRY_MAX_SEC)
            while not self._nc.is_connected:
                if self._nc.is_closed:
                    raise StoreUnavailable("the connection to NATS is closed")
                await asyncio.sleep(_RETRY_FIRST_SEC)

    async def _subscribe(self, box: _Inbox) -> tuple[str, Subscription]:
        """A fresh inbox whose messages go into `box`, however many (we bound them ourselves)."""
        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(
            inbox, cb=box.put, pending_msgs_limit=-1, pending_bytes_limit=-1
        )
        return inbox, sub

    async def _follow(self, subject: str, after: int) -> AsyncIterator[StoredCommit]:
        """One pull consumer from `after` on; raises StoreUnavailable when it stops answering.
        At most two batches are asked for beyond what the follower has taken."""
        self._check_connected()
        name = f"wq-follow-{uuid.uuid4().hex}"
        box = _Inbox()
        inbox, sub = await self._subscribe(box)
        next_subject = f"{self._api_prefix}.CONSUMER.MSG.NEXT.{self._stream}.{name}"
        request = b'{"batch":%d,"expires":%d}' % (self._batch, int(_FOLLOW_EXPIRES_SEC * 1e9))
        loop = asyncio.get_running_loop()
        try:
            try:
                await self._js.add_consumer(self._stream, _pull_config(name, subject, after))
            except _UNAVAILABLE as exc:
                raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc
            outstanding = 0  # asked for and not yet arrived
            heard = loop.time()
            reconnects = self._nc.stats["reconnects"]
            while True:
                if outstanding < self._batch and len(box.arrived) < self._batch:
                    await self._nc.publish(next_subject, request, reply=inbox)
                    outstanding += self._batch
                if not box.arrived:
                    box.woken.clear()
                    try:
                        async with asyncio.timeout(1.0):
                            await box.woken.wait()
                    except TimeoutError:
                        self._check_connected()
                        if self._nc.stats["reconnects"] != reconnects:
                            # What we asked for went with the old connection.
                            raise StoreUnavailable("reconnected to NATS") from None
                        if loop.time() - heard > _FOLLOW_EXPIRES_SEC + self._timeout:
                            raise StoreUnavailable("following the log stalled") from None
                    continue
                heard = loop.time()
                msg = box.arrived.popleft()
                if not msg.reply:  # a status: 408 when a request ran out, 100 a heartbeat
                    headers = msg.headers or {}
                    status = headers.get(api.Header.STATUS, "")
                    if status in ("404", "408"):
                        unfilled = headers.get("Nats-Pending-Messages")
                        outstanding = max(outstanding - int(unfilled), 0) if unfilled else 0
                    elif status != "100":
                        description = headers.get(api.Header.DESCRIPTION, "")
                        raise StoreUnavailable(f"following the log refused: {status} {description}")
                    continue
                outstanding = max(outstanding - 1, 0)
                position, _ = _position_and_pending(msg)
                yield StoredCommit(position, self._codec.decode_commit(msg.data))
        finally:
            await _quietly(sub.unsubscribe())
            await _quietly(self._js.delete_consumer(self._stream, name))

    async def missing(self) -> int:
        """Commits gone from the stream: it keeps every commit for ever, so any at all means
        someone purged it or deleted messages (health says so)."""
        self._check_connected()
        try:
            info = await self._js.stream_info(self._stream)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc
        state = info.state
        return max(state.last_seq - state.messages, 0)

    async def replication(self) -> Replication:
        """How the stream is copied: on a cluster, who leads and how each copy keeps up."""
        self._check_connected()
        try:
            info = await self._js.stream_info(self._stream)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc
        cluster = info.cluster
        if cluster is not None and cluster.name is None:
            cluster = None  # a lone server names itself leader of a "cluster" of no name
        copies = tuple(
            Copy(peer.name, bool(peer.current), bool(peer.offline), int(peer.lag or 0))
            for peer in ((cluster.replicas or []) if cluster is not None else [])
        )
        return Replication(
            info.config.num_replicas or 1,
            cluster.leader if cluster is not None else None,
            copies,
        )

    async def head(self) -> int:
        self._check_connected()
        try:
            info = await self._js.stream_info(self._stream)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the event log did not answer: {exc!r}") from exc
        return info.state.last_seq


class _NoResponders(StoreUnavailable):
    """Nobody serves the stream's direct gets (yet): worth asking again shortly."""


@frozen
class Copy:
    """A copy of the stream other than the leader's."""

    node: str
    current: bool
    offline: bool
    lag: int  # operations behind the leader


@frozen
class Replication:
    replicas: int
    leader: str | None  # None on a server that is not in a cluster
    copies: tuple[Copy, ...]

    def health(self) -> PartHealth:
        if self.leader is None:
            return PartHealth("ok", f"{self.replicas} copy, one server (no cluster)")
        behind = [c for c in self.copies if c.offline or not c.current]
        shown = ", ".join(
            f"{c.node} "
            + ("offline" if c.offline else "current" if c.current else f"{c.lag} behind")
            for c in self.copies
        )
        detail = f"{self.replicas} copies, leader {self.leader}" + (f"; {shown}" if shown else "")
        if len(self.copies) + 1 < self.replicas or behind:
            return PartHealth("degraded", detail)
        return PartHealth("ok", detail)


class _Inbox:
    """What arrives for our pull requests, in order, and a flag raised when something does."""

    def __init__(self) -> None:
        self.arrived: deque[Msg] = deque()
        self.woken = asyncio.Event()

    async def put(self, msg: Msg) -> None:
        self.arrived.append(msg)
        self.woken.set()


def _pull_config(name: str, subject: str, after: int) -> api.ConsumerConfig:
    """A consumer we pull from ourselves: no acks, kept in memory, gone a minute after its
    reader is."""
    return api.ConsumerConfig(
        name=name,
        filter_subject=subject,
        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        ack_policy=api.AckPolicy.NONE,
        inactive_threshold=60.0,
        mem_storage=True,
        num_replicas=1,
    )


def _position_and_pending(msg: Msg) -> tuple[int, int]:
    """Stream sequence and messages still pending, from a JetStream reply subject
    (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`, or the v2 form with
    domain and account hash), without building nats-py's metadata object for every message."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9 and tokens[0] == "$JS":
        return int(tokens[5]), int(tokens[8])
    if len(tokens) >= 11 and tokens[0] == "$JS":
        return int(tokens[7]), int(tokens[10])
    meta = msg.metadata
    return meta.sequence.stream, meta.num_pending or 0


async def _quietly(aw: object) -> None:
    try:
        await aw  # type: ignore[misc]
    except Exception:  # cleanup of a consumer that may already be gone
        return
