"""What Kryten-Robot saw on CyTube, turned into observations for the application.

Kryten-Robot publishes every CyTube socket.io event on plain core NATS, on
`kryten.events.cytube.{channel}.{event}`, as `{event_name, payload, channel, domain, timestamp,
correlation_id}` where `payload` is CyTube's own payload, untouched. This adapter subscribes to
one channel, decodes the events the queue and presence aggregates care about, and hands them to
an `ObservationSink`, one at a time and in arrival order (the order of queue events is their
meaning). Anything it cannot trust is logged and dropped; nothing a peer sends can stop it.

Core NATS keeps nothing: what is published while we are not subscribed is gone, and so is what
a slow consumer overflows. The playlist snapshot CyTube sends on every (re)join is what heals
such gaps, not this adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Annotated, Literal

import msgspec
from attrs import define
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.errors import BadSubscriptionError, ConnectionClosedError, ConnectionDrainingError

from adapters.kryten.cytube_wire import Malformed, Uid, WireItem, observed_item
from adapters.log.subjects import token
from application.cytube.observations import Observation, ObservationSink
from domain.presence.model import (
    ObserveAfkChanged,
    ObservedUser,
    ObserveRankChanged,
    ObserveUserJoined,
    ObserveUserLeft,
    ObserveUserList,
)
from domain.queue.commands import (
    CYTUBE_LEAD_IN_SEC,
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
    ObservePlaybackPosition,
    ObservePlaylist,
    ObservePlaylistCount,
    ObserveTempChanged,
)

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "kryten.events.cytube"
ID_PREFIX = "kryten-"

# ---------------------------------------------------------------------------------------------
# Wire shapes. Extra fields are ignored (CyTube and the robot add some over time); the fields we
# use are required and typed, so a shape that drifted is reported instead of half-read.
# ---------------------------------------------------------------------------------------------

Text = Annotated[str, msgspec.Meta(min_length=1)]


class _Envelope(msgspec.Struct):
    """The robot's RawEvent. `payload` stays raw until we know which shape to expect."""

    payload: msgspec.Raw
    event_name: str | None = None
    channel: str | None = None
    domain: str | None = None
    correlation_id: str | None = None


class _Queue(msgspec.Struct):
    item: WireItem
    after: Uid | Literal["prepend"]


class _Delete(msgspec.Struct):
    uid: Uid


class _Move(msgspec.Struct):
    from_: Uid = msgspec.field(name="from")
    after: Uid | Literal["prepend", "append"]


class _SetTemp(msgspec.Struct):
    uid: Uid
    temp: bool


class _UserMeta(msgspec.Struct):
    afk: bool = False


class _User(msgspec.Struct):
    """CyTube's packUserData(); `meta` is always there on the wire, but be lenient."""

    name: Text
    rank: float
    meta: _UserMeta = msgspec.field(default_factory=_UserMeta)


class _SetUserRank(msgspec.Struct):
    name: Text
    rank: float


class _PlaylistMeta(msgspec.Struct):
    count: Annotated[int, msgspec.Meta(ge=0)]


class _MediaUpdate(msgspec.Struct):
    currentTime: float
    paused: bool = False


class _ChangeMedia(msgspec.Struct):
    id: str
    type: str
    currentTime: float = 0.0
    paused: bool = False


class _UserLeave(msgspec.Struct):
    name: Text


class _SetAfk(msgspec.Struct):
    name: Text
    afk: bool


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_QUEUE = msgspec.json.Decoder(_Queue)
_DELETE = msgspec.json.Decoder(_Delete)
_MOVE = msgspec.json.Decoder(_Move)
_SET_TEMP = msgspec.json.Decoder(_SetTemp)
_SET_CURRENT = msgspec.json.Decoder(Uid)
_PLAYLIST = msgspec.json.Decoder(list[WireItem])
_USER = msgspec.json.Decoder(_User)
_USER_LEAVE = msgspec.json.Decoder(_UserLeave)
_SET_AFK = msgspec.json.Decoder(_SetAfk)
_USERLIST = msgspec.json.Decoder(list[_User])
_SET_USER_RANK = msgspec.json.Decoder(_SetUserRank)
_PLAYLIST_META = msgspec.json.Decoder(_PlaylistMeta)
_MEDIA_UPDATE = msgspec.json.Decoder(_MediaUpdate)
_CHANGE_MEDIA = msgspec.json.Decoder(_ChangeMedia)


def _name(name: str) -> str:
    if not name.strip():
        raise Malformed("user name is blank")
    return name


def _user(wire: _User) -> ObservedUser:
    return ObservedUser(name=_name(wire.name), rank=wire.rank, afk=wire.meta.afk)


def _on_queue(raw: msgspec.Raw) -> Observation:
    wire = _QUEUE.decode(raw)
    item = observed_item(wire.item)
    return ObserveItemQueued(
        uid=item.uid, media=item.media, temp=item.temp, queued_by=item.queued_by, after=wire.after
    )


def _on_delete(raw: msgspec.Raw) -> Observation:
    return ObserveItemDeleted(uid=_DELETE.decode(raw).uid)


def _on_move(raw: msgspec.Raw) -> Observation:
    wire = _MOVE.decode(raw)
    return ObserveItemMoved(uid=wire.from_, after=wire.after)


def _on_set_temp(raw: msgspec.Raw) -> Observation:
    wire = _SET_TEMP.decode(raw)
    return ObserveTempChanged(uid=wire.uid, temp=wire.temp)


def _on_set_current(raw: msgspec.Raw) -> Observation:
    # CyTube's startPlayback begins a new item at -3 s, paused; when it is not a new start (a
    # join, a shuffle, a restart) the changeMedia right after it carries the real position.
    return ObserveNowPlaying(uid=_SET_CURRENT.decode(raw), elapsed_sec=-CYTUBE_LEAD_IN_SEC)


def _on_change_media(raw: msgspec.Raw) -> Observation:
    wire = _CHANGE_MEDIA.decode(raw)
    return ObservePlaybackPosition(wire.currentTime, wire.paused, wire.type, wire.id)


def _on_media_update(raw: msgspec.Raw) -> Observation:
    wire = _MEDIA_UPDATE.decode(raw)
    return ObservePlaybackPosition(wire.currentTime, wire.paused)


def _on_playlist_meta(raw: msgspec.Raw) -> Observation:
    return ObservePlaylistCount(_PLAYLIST_META.decode(raw).count)


def _on_playlist(raw: msgspec.Raw) -> Observation:
    # CyTube follows a snapshot with setCurrent, which is what names the playing item.
    return ObservePlaylist(
        items=tuple(observed_item(w) for w in _PLAYLIST.decode(raw)),
        current_uid=None,
        source="cytube",
    )


def _on_add_user(raw: msgspec.Raw) -> Observation:
    return ObserveUserJoined(user=_user(_USER.decode(raw)))


def _on_user_leave(raw: msgspec.Raw) -> Observation:
    return ObserveUserLeft(name=_name(_USER_LEAVE.decode(raw).name))


def _on_set_afk(raw: msgspec.Raw) -> Observation:
    wire = _SET_AFK.decode(raw)
    return ObserveAfkChanged(name=_name(wire.name), afk=wire.afk)


def _on_set_user_rank(raw: msgspec.Raw) -> Observation:
    wire = _SET_USER_RANK.decode(raw)
    return ObserveRankChanged(name=_name(wire.name), rank=wire.rank)


def _on_userlist(raw: msgspec.Raw) -> Observation:
    return ObserveUserList(users=tuple(_user(w) for w in _USERLIST.decode(raw)))


#: Lowercased CyTube event name (what the subject's last token is) -> payload mapper.
#: `changeMedia` names no uid (`setCurrent` just before it does); it and `mediaUpdate` carry
#: the playback position. `setPlaylistMeta` counts the items (after adds, deletes, a clear).
HANDLERS: dict[str, Callable[[msgspec.Raw], Observation]] = {
    "queue": _on_queue,
    "delete": _on_delete,
    "movevideo": _on_move,
    "settemp": _on_set_temp,
    "setcurrent": _on_set_current,
    "changemedia": _on_change_media,
    "mediaupdate": _on_media_update,
    "playlist": _on_playlist,
    "setplaylistmeta": _on_playlist_meta,
    "adduser": _on_add_user,
    "userleave": _on_user_leave,
    "setafk": _on_set_afk,
    "setuserrank": _on_set_user_rank,
    "userlist": _on_userlist,
}


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return ID_PREFIX + h.hexdigest()[:32]


def observation_id(subject: str, data: bytes, envelope: _Envelope | None = None) -> str:
    """The same message always gets the same id, so a redelivered one is recorded once.

    With a correlation id (the robot mints a uuid4 per event and reuses it when it retries a
    publish) the id covers correlation id, event and payload, so a peer that reused one
    correlation id for different events cannot make us swallow the second. Without one, it
    covers subject and body. Always a fixed-length hex string: safe as a Nats-Msg-Id.
    """
    if envelope is not None and envelope.correlation_id:
        event = (envelope.event_name or subject.rsplit(".", 1)[-1]).lower()
        return _digest(
            b"cid", envelope.correlation_id.encode(), event.encode(), bytes(envelope.payload)
        )
    return _digest(b"raw", subject.encode(), data)


@define
class InboundStats:
    """Counters for metrics; after each message, received = recorded+ignored+malformed+failed."""

    received: int = 0
    recorded: int = 0
    ignored: int = 0
    malformed: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        """Messages whose handling has finished (received counts them as they start)."""
        return self.recorded + self.ignored + self.malformed + self.failed


class KrytenInbound:
    """Subscribes to one channel's robot events and reports them to an ObservationSink."""

    def __init__(
        self,
        nc: Client,
        channel: str,
        sink: ObservationSink,
        *,
        domain: str | None = None,
        drain_timeout: float = 10.0,
        prefix: str = SUBJECT_PREFIX,
    ) -> None:
        self._nc = nc
        self._channel = channel
        self._channel_token = token(channel)
        self._sink = sink
        self._domain = domain
        self._domain_token = None if domain is None else token(domain)
        self.subject = f"{prefix}.{self._channel_token}.>"
        self.stats = InboundStats()
        self.last_event_at: float | None = None  # loop time of the last message handled
        self._drain_timeout = drain_timeout
        self._sub: Subscription | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def channel(self) -> str:
        return self._channel

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Subscribe; when this returns the server knows our interest. Idempotent."""
        if self._sub is not None:
            return
        sub = await self._nc.subscribe(self.subject)
        self._sub = sub
        self._worker = asyncio.create_task(self._run(sub), name=f"kryten-inbound:{self.subject}")
        await self._nc.flush()
        log.info("kryten inbound: listening on %s for channel %r", self.subject, self._channel)

    async def resubscribe(self) -> None:
        """After the connection was opened again (its subscriptions went with the old one):
        listen again, unless stopped on purpose."""
        if self._sub is None:
            return
        worker = self._worker
        self._sub = self._worker = None
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await self.start()

    async def stop(self) -> None:
        """Unsubscribe and finish what was already delivered, for at most `drain_timeout` s."""
        timeout = self._drain_timeout
        sub, worker = self._sub, self._worker
        self._sub = self._worker = None
        if sub is None or worker is None:
            return
        try:
            async with asyncio.timeout(timeout):
                try:
                    await sub.drain()  # type: ignore[no-untyped-call]  # untyped in nats-py
                except (ConnectionClosedError, ConnectionDrainingError, BadSubscriptionError):
                    # The connection (or its own drain) already ended the subscription.
                    log.debug("kryten inbound: %s already ended by its connection", self.subject)
                await worker
        except TimeoutError:
            log.warning(
                "kryten inbound: %s did not drain within %.1fs; abandoning %d pending message(s)",
                self.subject,
                timeout,
                sub.pending_msgs,
            )
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        log.info("kryten inbound: stopped listening on %s (%s)", self.subject, self.stats)

    async def _run(self, sub: Subscription) -> None:
        async for msg in sub.messages:
            try:
                await self.handle(msg.subject, msg.data)
            except Exception:  # a bug of ours must not end the subscription either
                self.stats.failed += 1
                log.exception("kryten inbound: unexpected error on %s", msg.subject)

    async def handle(self, subject: str, data: bytes) -> None:
        """Process one message (the subscription calls this; tests and replays may too)."""
        self.stats.received += 1
        self.last_event_at = asyncio.get_running_loop().time()
        try:
            parsed = self._parse(subject, data)
        except (Malformed, msgspec.DecodeError) as exc:
            self.stats.malformed += 1
            log.warning(
                "kryten inbound: dropped malformed message on %s: %s (%d bytes: %r)",
                subject,
                exc,
                len(data),
                data[:200],
            )
            return
        if parsed is None:
            self.stats.ignored += 1
            return
        obs_id, observation = parsed
        try:
            await self._sink.observe(self._channel, observation, observation_id=obs_id)
        except Exception:
            self.stats.failed += 1
            log.exception(
                "kryten inbound: the sink failed to record %s from %s (observation id %s)",
                type(observation).__name__,
                subject,
                obs_id,
            )
            return
        self.stats.recorded += 1

    def _parse(self, subject: str, data: bytes) -> tuple[str, Observation] | None:
        subject_event = subject.rsplit(".", 1)[-1].lower()
        try:
            envelope = _ENVELOPE.decode(data)
        except msgspec.DecodeError as exc:
            raise Malformed(f"not a Kryten event message: {exc}") from exc
        event = subject_event
        if envelope.event_name is not None:
            event = envelope.event_name.lower()
            if _safe_token(envelope.event_name) != subject_event:
                raise Malformed(
                    f"event_name {envelope.event_name!r} does not match subject token "
                    f"{subject_event!r}"
                )
        mapper = HANDLERS.get(event)
        if mapper is None:
            log.debug("kryten inbound: ignoring %s on %s", event, subject)
            return None
        if (
            self._domain_token is not None
            and envelope.domain is not None
            and _safe_token(envelope.domain) != self._domain_token
        ):
            raise Malformed(f"domain {envelope.domain!r} is not the configured {self._domain!r}")
        if envelope.channel is not None and _safe_token(envelope.channel) != self._channel_token:
            raise Malformed(f"channel {envelope.channel!r} is not {self._channel!r}")
        try:
            observation = mapper(envelope.payload)
        except msgspec.DecodeError as exc:
            raise Malformed(f"{event} payload: {exc}") from exc
        return observation_id(subject, data, envelope), observation


def _safe_token(value: str) -> str | None:
    try:
        return token(value)
    except ValueError:
        return None
