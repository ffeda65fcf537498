"""The CyTube port over Kryten-Robot's `kryten.robot.command` request/reply.

Request: `{service: "robot", command, args, meta: {source, timestamp, domain, channel,
request_id}}`; a robot ignores a command whose meta domain/channel is not its own, so `meta`
carries the channel name as given (the robot compares it case-insensitively), not a subject
token. Reply: `{service, command, success, data: RESULT}`, where outer `success` only says the
robot ran the handler and RESULT may itself say `{success: false, error}`. Both layers are
checked.

Whatever does not come back as a well-formed reply (a timeout, no responders, a closed
connection, garbage, a reply for another command) raises `CytubeUnavailable`: the outcome is
unknown. An unknown command gets no reply at all, so it too ends as a timeout.

What actually happened is learnt from the robot's events, never from these replies alone:
the robot confirms an add by the first `queue` event it sees (two concurrent adds can swap
uids) and never confirms a move or a delete. An add the robot answers with uid null (CyTube
said nothing within its 8 s) is watched a while longer on the channel's events: CyTube sends
a slow lookup's `queueFail` to the requester only, so the robot's `queuefail` event is the one
place its reason ever shows.

A snapshot (`read`) is `state.playlist`, which Kryten-Robot 1.12.6 answers from its memory, plus
two keys of its KV bucket `kryten_{channel}_playlist`: `current` (the changeMedia payload plus
`uid`: `state.playlist` names no current item) and, when the list is empty, `items`, whose
own `[]` tells an empty channel from a read that failed. The robot answers nothing at all while
it starts (its state handler subscribes after the CyTube join): that is a timeout here.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from adapters.kryten.cytube_wire import Uid, WireItem, observed_item
from adapters.kryten.inbound import SUBJECT_PREFIX
from adapters.log.subjects import token
from application.cytube.port import (
    AddOutcome,
    AddPosition,
    After,
    CytubeUnavailable,
    PlaylistRead,
)
from domain.media import Media
from domain.presence.model import ObservedUser
from domain.queue.commands import ObservedItem

log = logging.getLogger(__name__)

COMMAND_SUBJECT = "kryten.robot.command"

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Which CyTube queueFail messages are worth retrying.
#
# kryten-webqueue 0.10.0: "CyTube validates each queued item server-side (fetching the custom
# MediaCMS manifest), and adding faster than it can validate triggers a transient `queueFail`
# [...] even for perfectly valid URLs." That release retried every queueFail; the texts below
# are the ones in CyTube's source (calzoneman/sync) that come from pace or from a media server
# that did not answer in time, as opposed to what the item or the channel's rules are
# (already on the playlist, no permission, too long, limits, not found, private, ...).
# CyTube passes lookup errors through XSS.sanitizeText, so a message is unescaped first.
# ---------------------------------------------------------------------------------------------

TRANSIENT_QUEUE_FAILS: tuple[str, ...] = (
    "adding videos too quickly",  # playlist.js: the per-user queue rate limiter
    "request timed out",  # custom-media.js: the `cm` manifest fetch (10 s)
    "timed out",  # ffmpeg.js ETIMEDOUT (raw files)
    "service unavailable",  # get-info.js: a provider answering 500/503
    "try again",  # ffmpeg.js: remote 500/503 "Try again in a few minutes", unexpected errors
    "unexpectedly closed the connection",  # ffmpeg.js ECONNRESET
    "refused the connection",  # ffmpeg.js ECONNREFUSED
    "socket hang up",  # Node errors custom-media.js passes through as they are
    "econnreset",
    "econnrefused",
    "etimedout",
    "eai_again",
)
_TRANSIENT_HTTP = re.compile(r"expected http 200 ok, not (5\d\d|429)\b")
"""custom-media.js: the manifest server answered 5xx or 429."""


def is_transient_queue_fail(msg: str) -> bool:
    text = html.unescape(msg).lower()
    return any(part in text for part in TRANSIENT_QUEUE_FAILS) or bool(_TRANSIENT_HTTP.search(text))


# ---------------------------------------------------------------------------------------------
# Wire shapes. Extra fields are ignored; the fields we use are typed, so a reply that drifted
# is reported (as CytubeUnavailable) instead of half-read.
# ---------------------------------------------------------------------------------------------


class _Reply(msgspec.Struct):
    success: bool
    command: str | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")
    error: str | None = None


class _Result(msgspec.Struct):
    """RESULT of rmvideo, mvvideo, pm."""

    success: bool | None = None
    error: str | None = None


class _QueueFail(msgspec.Struct):
    msg: str | None = None


class _Event(msgspec.Struct):
    payload: msgspec.Raw


class _FailEvent(msgspec.Struct):
    """CyTube's `queueFail {msg, link, id}`; `id` is the media id it was given."""

    msg: str | None = None
    id: str | None = None


class _QueuedMedia(msgspec.Struct):
    id: str
    type: str


class _QueuedItem(msgspec.Struct):
    uid: Uid
    media: _QueuedMedia


class _QueueEvent(msgspec.Struct):
    item: _QueuedItem


class _AddWatch:
    """The channel's `queue` and `queuefail` events for one add, listened to from before the
    add is sent (so nothing lands unseen between the reply and the subscription)."""

    def __init__(self, media: Media) -> None:
        self._media = media
        self.outcome: asyncio.Future[AddOutcome] = asyncio.get_running_loop().create_future()

    async def on_fail(self, msg: Any) -> None:
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            event = _FAIL_EVENT.decode(_EVENT.decode(msg.data).payload)
            if event.id == self._media.id and not self.outcome.done():
                error = html.unescape(event.msg or "CyTube refused the item")
                transient = is_transient_queue_fail(error)
                self.outcome.set_result(AddOutcome(ok=False, error=error, transient=transient))

    async def on_queue(self, msg: Any) -> None:
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            item = _QUEUE_EVENT.decode(_EVENT.decode(msg.data).payload).item
            media = self._media
            same = (item.media.type, item.media.id) == (media.type, media.id)
            if same and not self.outcome.done():
                self.outcome.set_result(AddOutcome(ok=True, uid=item.uid))


class _AddResult(msgspec.Struct):
    success: bool
    uid: Uid | None = None
    error: str | None = None
    queue_fail: _QueueFail | None = None


class _PlaylistResult(msgspec.Struct):
    playlist: list[WireItem] | None = None
    success: bool | None = None
    error: str | None = None


class _UserMeta(msgspec.Struct):
    afk: bool = False


class _User(msgspec.Struct):
    """Every shape Kryten-Robot 1.12.6 keeps: CyTube's full packUserData; the bare
    `{name, rank}` any `setUserRank` replaces it with (every registered login sends one);
    that with `meta: {afk}` merged in by a later `setAFK`. No meta: not known to be AFK."""

    name: str
    rank: float
    meta: _UserMeta = msgspec.field(default_factory=_UserMeta)


class _UserResult(msgspec.Struct):
    user: _User | None = None
    success: bool | None = None
    error: str | None = None


class _KvCurrent(msgspec.Struct):
    """The robot's KV `current`: CyTube's changeMedia payload plus `uid`."""

    uid: Uid | None = None
    id: str | None = None
    type: str | None = None


class _Pong(msgspec.Struct):
    pong: bool = False
    version: str | None = None


_REPLY = msgspec.json.Decoder(_Reply)
_KV_CURRENT = msgspec.json.Decoder(_KvCurrent)
_KV_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
_PONG = msgspec.json.Decoder(_Pong)
_BUCKET = re.compile(r"^[A-Za-z0-9_-]+$")
_RESULT = msgspec.json.Decoder(_Result | None)
_ADD_RESULT = msgspec.json.Decoder(_AddResult)
_EVENT = msgspec.json.Decoder(_Event)
_FAIL_EVENT = msgspec.json.Decoder(_FailEvent)
_QUEUE_EVENT = msgspec.json.Decoder(_QueueEvent)
_PLAYLIST = msgspec.json.Decoder(_PlaylistResult | list[WireItem])
_USER_RESULT = msgspec.json.Decoder(_UserResult)


def _check(command: str, success: bool | None, error: str | None) -> None:
    """The inner layer: RESULT `success: false` (or an error without success) is a failure."""
    if success is False or (success is None and error is not None):
        raise CytubeUnavailable(f"{command}: {error or 'the robot failed'}")


class KrytenRobot:
    """`Cytube` through Kryten-Robot; one instance serves every channel of `domain`."""

    def __init__(
        self,
        nc: Client,
        *,
        domain: str,
        timeout: float = 10.0,
        subject: str = COMMAND_SUBJECT,
        source: str = "webqueue",
        probe_timeout: float = 2.0,
        events_prefix: str = SUBJECT_PREFIX,
        late_fail_sec: float = 10.0,
    ) -> None:
        # The robot waits up to 8 s for CyTube's `queue` before answering an add with uid
        # null: a timeout shorter than that turns a slow add into an unknown outcome.
        self._nc = nc
        self._domain = domain
        self._timeout = timeout
        self._subject = subject
        self._source = source
        self._probe_timeout = probe_timeout
        self._events_prefix = events_prefix
        # How long an add answered with uid null is watched for its `queue` or `queueFail`.
        self._late_fail_sec = late_fail_sec
        self._buckets: dict[str, KeyValue] = {}

    # ---- the port ----------------------------------------------------------------------------

    async def add(self, channel: str, media: Media, pos: AddPosition, temp: bool) -> AddOutcome:
        """`{success: true, uid: null}` (CyTube did not confirm within the robot's 8 s) is
        watched `late_fail_sec` longer: the item's `queue` event makes it ok (with its uid), a
        `queuefail` for its media a failure with CyTube's reason; neither, ok with uid None. A
        queueFail is ok False, transient when retrying may cure it."""
        args = {"type": media.type, "id": media.id, "pos": pos, "temp": temp}
        watch = _AddWatch(media)
        events = f"{self._events_prefix}.{token(channel)}"
        subs = []
        try:
            try:
                subs.append(await self._nc.subscribe(f"{events}.queuefail", cb=watch.on_fail))
                subs.append(await self._nc.subscribe(f"{events}.queue", cb=watch.on_queue))
                await self._nc.flush(timeout=self._timeout)
            except (NatsError, TimeoutError, OSError) as exc:
                raise CytubeUnavailable(
                    f"addvideo: cannot watch the channel's events: {exc!r}"
                ) from exc
            data = await self._request(channel, "addvideo", args)
            result = self._decode(_ADD_RESULT, data, "addvideo")
            if result.success and result.uid is None:
                with contextlib.suppress(TimeoutError):
                    late = await asyncio.wait_for(
                        asyncio.shield(watch.outcome), self._late_fail_sec
                    )
                    if not late.ok:
                        log.info(
                            "kryten robot: %s refused %s/%s after the robot's wait: %s",
                            channel,
                            media.type,
                            media.id,
                            late.error,
                        )
                    return late
        finally:
            for sub in subs:
                with contextlib.suppress(NatsError):
                    await sub.unsubscribe()
        if result.success:
            return AddOutcome(ok=True, uid=result.uid)
        msg = result.queue_fail.msg if result.queue_fail is not None else None
        error = html.unescape(msg or result.error or "CyTube refused the item")
        transient = msg is not None and is_transient_queue_fail(msg)
        log.info("kryten robot: %s refused %s/%s: %s", channel, media.type, media.id, error)
        return AddOutcome(ok=False, error=error, transient=transient)

    async def delete(self, channel: str, uid: int) -> None:
        """Sent, not confirmed: watch for `delete` or the next snapshot."""
        await self._command(channel, "rmvideo", {"uid": uid})

    async def move(self, channel: str, uid: int, after: After) -> None:
        """Sent, not confirmed (a failed CyTube move is silent): watch for `moveVideo`."""
        await self._command(channel, "mvvideo", {"from": uid, "after": after})

    async def pm(self, channel: str, to: str, message: str) -> None:
        await self._command(channel, "pm", {"to": to, "msg": message})

    async def playlist(self, channel: str) -> tuple[ObservedItem, ...] | None:
        """None for an empty list nothing vouches for: the robot answers `[]` when it holds
        nothing (and older ones when their KV read failed); its KV bucket holding `[]` too
        says the channel really is empty."""
        read = await self.read(channel)
        if not read.items and not read.empty_confirmed:
            return None
        return read.items

    async def read(self, channel: str) -> PlaylistRead:
        data = await self._request(channel, "state.playlist", {})
        wire = self._decode(_PLAYLIST, data, "state.playlist")
        if isinstance(wire, _PlaylistResult):
            _check("state.playlist", wire.success, wire.error)
            listed = wire.playlist
        else:
            listed = wire
        try:
            items = tuple(observed_item(w) for w in listed or ())
        except ValueError as exc:
            raise CytubeUnavailable(f"state.playlist: {exc}") from exc
        if not items:
            return PlaylistRead((), None, empty_confirmed=await self._kv_items_empty(channel))
        current = await self._kv_current(channel)
        if current is not None and not any(i.uid == current for i in items):
            current = None  # stale (KV `current` outlives a clear), or not ours to trust
        return PlaylistRead(items, current)

    async def ping(self, channel: str = "") -> str | None:
        """The robot's version if it answers `system.ping`; raises CytubeUnavailable."""
        data = await self._request(channel, "system.ping", {}, wait=self._probe_timeout)
        pong = self._decode(_PONG, data, "system.ping")
        if not pong.pong:
            raise CytubeUnavailable("system.ping: no pong")
        return pong.version

    async def user(self, channel: str, name: str) -> ObservedUser | None:
        """None when the robot holds no such user. The robot looks names up as given (case
        matters there), so pass the name as CyTube reported it."""
        # Kryten-Robot's state handler reads `username` from the top level of the request
        # (as kryten-py sends it), not from `args`: send both.
        data = await self._request(channel, "state.user", {"username": name}, username=name)
        result = self._decode(_USER_RESULT, data, "state.user")
        _check("state.user", result.success, result.error)  # never "absent" on a failure
        wire = result.user
        if wire is None:
            return None
        if wire.name.lower() != name.lower():
            raise CytubeUnavailable(f"state.user: asked for {name!r}, got {wire.name!r}")
        return ObservedUser(name=wire.name, rank=wire.rank, afk=wire.meta.afk)

    # ---- the robot's KV bucket ---------------------------------------------------------------

    async def _bucket(self, channel: str) -> KeyValue | None:
        name = f"kryten_{channel}_playlist"  # the robot names it after the channel as given
        if not _BUCKET.match(name):
            return None
        bucket = self._buckets.get(name)
        if bucket is None:
            try:
                bucket = await self._nc.jetstream().key_value(name)
            except (BucketNotFoundError, NatsError, TimeoutError, OSError) as exc:
                log.info("kryten robot: no KV bucket %s: %r", name, exc)
                return None
            self._buckets[name] = bucket
        return bucket

    async def _kv(self, channel: str, key: str) -> bytes | None:
        bucket = await self._bucket(channel)
        if bucket is None:
            return None
        try:
            entry = await bucket.get(key)
        except KeyNotFoundError:
            return None
        except (NatsError, TimeoutError, OSError) as exc:
            log.info("kryten robot: KV %s of %s unreadable: %r", key, channel, exc)
            return None
        return entry.value

    async def _kv_current(self, channel: str) -> int | None:
        raw = await self._kv(channel, "current")
        if not raw:
            return None
        with contextlib.suppress(msgspec.DecodeError):
            return _KV_CURRENT.decode(raw).uid
        return None

    async def _kv_items_empty(self, channel: str) -> bool:
        """True only if the bucket holds `items` and it is `[]`: a record, not an absence."""
        raw = await self._kv(channel, "items")
        if raw is None:
            return False
        try:
            return _KV_ITEMS.decode(raw) == []
        except msgspec.DecodeError:
            return False

    # ---- the wire ----------------------------------------------------------------------------

    async def _command(self, channel: str, command: str, args: dict[str, Any]) -> None:
        """A command whose RESULT is only `{success}`: inner failure is CytubeUnavailable."""
        result = self._decode(_RESULT, await self._request(channel, command, args), command)
        if result is not None:
            _check(command, result.success, result.error)

    async def _request(
        self,
        channel: str,
        command: str,
        args: dict[str, Any],
        *,
        wait: float | None = None,
        **top: Any,
    ) -> msgspec.Raw:
        """Send one command and return its RESULT once the outer layer says the handler ran."""
        request_id = str(uuid.uuid4())
        body = msgspec.json.encode(
            {
                "service": "robot",
                "command": command,
                "args": args,
                **top,
                "meta": {
                    "source": self._source,
                    "timestamp": datetime.now(UTC).isoformat(),
                    "domain": self._domain,
                    "channel": channel,
                    "request_id": request_id,
                },
            }
        )
        try:
            msg = await self._nc.request(self._subject, body, timeout=wait or self._timeout)
        except (NatsError, TimeoutError, OSError) as exc:
            log.warning(
                "kryten robot: %s for %s/%s got no reply (request %s): %r",
                command,
                self._domain,
                channel,
                request_id,
                exc,
            )
            raise CytubeUnavailable(f"{command}: no reply from the robot ({exc!r})") from exc
        reply = self._decode(_REPLY, msg.data, command)
        if reply.command is not None and reply.command != command:
            raise CytubeUnavailable(f"{command}: the reply is for {reply.command!r}")
        if not reply.success:
            log.warning(
                "kryten robot: %s for %s/%s failed in the robot (request %s): %s",
                command,
                self._domain,
                channel,
                request_id,
                reply.error,
            )
            raise CytubeUnavailable(f"{command}: {reply.error or 'the robot failed'}")
        return reply.data

    @staticmethod
    def _decode(decoder: msgspec.json.Decoder[T], data: bytes | msgspec.Raw, what: str) -> T:
        try:
            return decoder.decode(data)
        except msgspec.DecodeError as exc:
            raw = bytes(data)[:200]
            log.warning("kryten robot: malformed reply to %s: %s (%r)", what, exc, raw)
            raise CytubeUnavailable(f"{what}: malformed reply ({exc})") from exc
