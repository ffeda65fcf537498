"""NATS request/reply command subjects `wq.cmd.{channel}.{command}`: the same application
services as HTTP, for other services. Replies are `{"ok": true, ...}` or
`{"ok": false, "error": {"code", "message"}}`; a malformed message appends nothing.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from adapters.log.subjects import token as subject_token
from application.catalog.ports import CategoryMode, SearchQuery, Sort
from application.cytube.port import CytubeUnavailable
from application.errors import NotFoundError
from application.identity.roles import Forbidden, Identity, Unauthenticated, require
from application.log.intake import Busy
from application.log.ports import CommitTooLarge, ConcurrencyConflict, StoreFull, StoreUnavailable
from application.pay.economy import EconomyUnavailable, OutcomeUnknown
from application.stats.queries import InvalidWindow
from domain.errors import Rejected
from domain.likes.model import LikeRefused
from domain.media import Media
from domain.playlists.apply import ApplyMode
from entrypoints.defaults import lock_until
from entrypoints.failures import (
    BUSY,
    CYTUBE_DOWN,
    ECONOMY_DOWN,
    LOG_FULL,
    TOO_LARGE,
    PeerUnavailable,
    too_large_message,
)
from entrypoints.like_rules_bodies import LikeRulesPatch, like_rules_body, patched
from entrypoints.peers import require_peers
from entrypoints.rules_bodies import RulesPatch, rules_service, rules_to_body, rules_to_domain
from entrypoints.schemas import (
    BuyItem,
    CytubeUser,
    Duration,
    Grant,
    ItemId,
    Lock,
    MediaId,
    MediaType,
    RequestId,
    TierName,
)
from entrypoints.services import Services

log = logging.getLogger("webqueue.nats")
PREFIX = "wq.cmd"
MAX_MESSAGE = 64 * 1024
Token = Annotated[str, Meta(min_length=1, max_length=4096)]


class Authed(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    token: Token


class RequestPayItemMsg(BuyItem, forbid_unknown_fields=True, kw_only=True):
    token: Token


class PreviewPayItemMsg(Authed, forbid_unknown_fields=True, kw_only=True):
    media_type: MediaType
    media_id: MediaId
    duration_sec: Duration | None = None
    tier: TierName = "queue"


class PayItemRef(Authed, forbid_unknown_fields=True, kw_only=True):
    request_id: Annotated[str, Meta(min_length=1, max_length=100)]


class CancelPayItemMsg(PayItemRef, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, Meta(min_length=1, max_length=100)] = "admin_remove"


class WalletRef(Authed, forbid_unknown_fields=True, kw_only=True):
    user: CytubeUser


class GrantMsg(Grant, forbid_unknown_fields=True, kw_only=True):
    token: Token
    user: CytubeUser


class LockMsg(Lock, forbid_unknown_fields=True, kw_only=True):
    token: Token


class SetRulesMsg(RulesPatch, forbid_unknown_fields=True, kw_only=True):
    token: Token


class SetLikeRulesMsg(LikeRulesPatch, forbid_unknown_fields=True, kw_only=True):
    token: Token


class Empty(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    token: Token | None = None


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Handler = Callable[[Services, str, Any], Awaitable[Any]]


def _who(services: Services, token: str) -> Identity:
    """The caller a token names, with the role the log's facts give them now."""
    return services.identity.authenticator.from_token(token)


async def _request(services: Services, channel: str, m: RequestPayItemMsg) -> Any:
    media = m.media()
    who = _who(services, m.token)
    require_peers(services, cytube=True, economy=True)
    return await services.pay.service.request(channel, who, media, m.tier, m.request_id)


async def _preview(services: Services, channel: str, m: PreviewPayItemMsg) -> Any:
    media = Media(m.media_type, m.media_id, "", m.duration_sec or 0)
    return await services.pay.service.preview(channel, _who(services, m.token), media, m.tier)


async def _status(services: Services, channel: str, m: PayItemRef) -> Any:
    return await services.pay.service.status(channel, _who(services, m.token), m.request_id)


async def _cancel(services: Services, channel: str, m: CancelPayItemMsg) -> Any:
    await services.pay.service.cancel(channel, _who(services, m.token), m.request_id, m.reason)
    return {"request_id": m.request_id, "status": "cancelling"}


async def _wallet(services: Services, channel: str, m: WalletRef) -> Any:
    who = _who(services, m.token)
    require_peers(services, economy=True)
    return await services.pay.service.wallet(channel, who, m.user)


async def _grant(services: Services, channel: str, m: GrantMsg) -> Any:
    return await services.pay.service.grant(channel, _who(services, m.token), m.user, m.amount)


async def _lock(services: Services, channel: str, m: LockMsg) -> Any:
    who = _who(services, m.token)
    until = lock_until(services, m.until)
    return await services.pay.service.lock(channel, who, m.label, until)


async def _unlock(services: Services, channel: str, m: Authed) -> Any:
    return await services.pay.service.unlock(channel, _who(services, m.token))


class BlessedRef(Authed, forbid_unknown_fields=True, kw_only=True):
    user: Annotated[str, Meta(min_length=1, max_length=100)]


async def _get_rules(services: Services, channel: str, m: Authed) -> Any:
    service = rules_service(services)
    return rules_to_body(await service.config(channel, _who(services, m.token)))


async def _set_rules(services: Services, channel: str, m: SetRulesMsg) -> Any:
    who = _who(services, m.token)
    service = rules_service(services)
    require(who, "admin")
    changed = rules_to_domain(await service.config(channel, who), m)
    return rules_to_body(await service.set_config(channel, who, changed))


async def _get_like_rules(services: Services, channel: str, m: Authed) -> Any:
    _who(services, m.token)
    return like_rules_body(await services.likes.service.current_rules())


async def _set_like_rules(services: Services, channel: str, m: SetLikeRulesMsg) -> Any:
    who = _who(services, m.token)
    require(who, "admin")
    service = services.likes.service
    changed = patched(await service.current_rules(), m)
    return like_rules_body(await service.rules.set_rules(channel, who, changed))


async def _blessed(services: Services, channel: str, m: Authed) -> Any:
    return {"users": services.identity.blessed.entries(_who(services, m.token))}


async def _bless(services: Services, channel: str, m: BlessedRef) -> Any:
    return {"users": await services.identity.blessed.bless(_who(services, m.token), m.user)}


async def _unbless(services: Services, channel: str, m: BlessedRef) -> Any:
    return {"users": await services.identity.blessed.unbless(_who(services, m.token), m.user)}


PlaylistRefText = Annotated[str, Meta(min_length=1, max_length=1000)]


class ApplyPlaylistMsg(Authed, forbid_unknown_fields=True, kw_only=True):
    """The playlist by `playlist_id`, or by `name` (compared without case or spaces)."""

    playlist_id: Annotated[str, Meta(max_length=64)] | None = None
    name: PlaylistRefText | None = None
    mode: ApplyMode = "preserve_current"


class ApplyRef(Authed, forbid_unknown_fields=True, kw_only=True):
    apply_id: Annotated[str, Meta(max_length=64)] | None = None


async def _apply_playlist(services: Services, channel: str, m: ApplyPlaylistMsg) -> Any:
    who = _who(services, m.token)
    if (m.playlist_id is None) == (m.name is None):
        raise CommandError("invalid_request", "Give the playlist_id or the name, one of them.")
    require_peers(services, cytube=True)
    playlists = services.playlists
    playlist_id = m.playlist_id or await playlists.service.find(channel, who, m.name or "")
    return await playlists.applier.start(channel, who, playlist_id, m.mode)


async def _get_apply(services: Services, channel: str, m: ApplyRef) -> Any:
    return await services.playlists.applier.status(channel, _who(services, m.token), m.apply_id)


async def _abort_apply(services: Services, channel: str, m: ApplyRef) -> Any:
    if m.apply_id is None:
        raise CommandError("invalid_request", "Give the apply_id to abort.")
    return await services.playlists.applier.abort(channel, _who(services, m.token), m.apply_id)


async def _queue(services: Services, channel: str, m: Empty) -> Any:
    return await services.queue.queries.queue(channel)


class LikeMsg(Authed, forbid_unknown_fields=True, kw_only=True):
    item_id: ItemId | None = None


class TopLikedMsg(Authed, forbid_unknown_fields=True, kw_only=True):
    since: Annotated[str, Meta(max_length=64)] | None = None
    until: Annotated[str, Meta(max_length=64)] | None = None
    window: Annotated[str, Meta(max_length=16)] | None = None
    limit: Annotated[int, Meta(ge=1, le=100)] = 10


async def _like(services: Services, channel: str, m: LikeMsg) -> Any:
    return await services.likes.service.like(_who(services, m.token), m.item_id)


async def _likes_now(services: Services, channel: str, m: Empty) -> Any:
    return await services.likes.queries.now(channel)


async def _top_liked(services: Services, channel: str, m: TopLikedMsg) -> Any:
    who = _who(services, m.token)
    try:
        since, until = services.likes.queries.window(m.since, m.until, m.window)
    except InvalidWindow as exc:
        raise CommandError("invalid_request", exc.message) from None
    found = await services.likes.queries.top_liked(who, channel, since, until, m.limit)
    return {"items": found}


# ---- the catalog ----------------------------------------------------------------------------


class RefreshCatalogMsg(Authed, forbid_unknown_fields=True, kw_only=True):
    full: bool = False


class SearchCatalogMsg(Authed, forbid_unknown_fields=True, kw_only=True):
    q: Annotated[str, Meta(max_length=200)] = ""
    categories: Annotated[list[Annotated[str, Meta(max_length=200)]], Meta(max_length=20)] = []
    category_mode: CategoryMode = "any"
    sort: Sort = "relevance"
    page: Annotated[int, Meta(ge=1, le=100_000)] = 1
    per_page: Annotated[int, Meta(ge=1, le=100)] = 24
    available_only: bool = False


class CatalogItemRef(Authed, forbid_unknown_fields=True, kw_only=True):
    key: Annotated[str, Meta(min_length=1, max_length=200)]


class BuyCatalogItemMsg(CatalogItemRef, forbid_unknown_fields=True, kw_only=True):
    tier: TierName = "queue"
    request_id: RequestId | None = None


async def _refresh_catalog(services: Services, channel: str, m: RefreshCatalogMsg) -> Any:
    return await services.catalog.service.refresh(_who(services, m.token), full=m.full)


async def _catalog_refresh(services: Services, channel: str, m: Authed) -> Any:
    return services.catalog.service.progress(_who(services, m.token))


async def _search_catalog(services: Services, channel: str, m: SearchCatalogMsg) -> Any:
    query = SearchQuery(
        channel,
        text=m.q,
        categories=list(m.categories),
        category_mode=m.category_mode,
        sort=m.sort,
        page=m.page,
        per_page=m.per_page,
        available_only=m.available_only,
    )
    return await services.catalog.service.search(_who(services, m.token), query)


async def _catalog_item(services: Services, channel: str, m: CatalogItemRef) -> Any:
    return await services.catalog.service.item(channel, _who(services, m.token), m.key)


async def _buy_catalog_item(services: Services, channel: str, m: BuyCatalogItemMsg) -> Any:
    who = _who(services, m.token)
    require_peers(services, cytube=True, economy=True)
    return await services.catalog.purchases.buy(channel, who, m.key, m.tier, m.request_id)


class ScheduleMsg(Authed, forbid_unknown_fields=True, kw_only=True):
    playlist_id: Annotated[str, Meta(min_length=1, max_length=64)]
    label: Annotated[str, Meta(min_length=1, max_length=200)]
    fire_at: Annotated[str, Meta(min_length=10, max_length=40)]
    lock_minutes: Annotated[int, Meta(ge=0, le=1440)] | None = None
    fallback_playlist_id: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    immutable: bool = True
    active: bool = True
    rrule: Annotated[str, Meta(max_length=500)] | None = None


class ScheduleRef(Authed, forbid_unknown_fields=True, kw_only=True):
    schedule_id: Annotated[str, Meta(min_length=1, max_length=100)]


class ScheduleActiveMsg(ScheduleRef, forbid_unknown_fields=True, kw_only=True):
    active: bool


_PlaylistId = Annotated[str, Meta(min_length=1, max_length=64)]
_Unset = msgspec.UnsetType
_UNSET = msgspec.UNSET


class EditScheduleMsg(ScheduleRef, forbid_unknown_fields=True, kw_only=True):
    """The settings given change, the rest stay (as HTTP's PATCH); `null` clears the lock
    length (the configured default), the fallback and the recurrence."""

    playlist_id: _PlaylistId | _Unset = _UNSET
    label: Annotated[str, Meta(min_length=1, max_length=200)] | _Unset = _UNSET
    fire_at: Annotated[str, Meta(min_length=10, max_length=40)] | _Unset = _UNSET
    lock_minutes: Annotated[int, Meta(ge=0, le=1440)] | _Unset | None = _UNSET
    fallback_playlist_id: _PlaylistId | _Unset | None = _UNSET
    immutable: bool | _Unset = _UNSET
    active: bool | _Unset = _UNSET
    rrule: Annotated[str, Meta(max_length=500)] | _Unset | None = _UNSET
    expected_version: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class UpcomingMsg(Authed, forbid_unknown_fields=True, kw_only=True):
    days: Annotated[float, Meta(gt=0, le=366)] = 7


def _schedules(services: Services) -> Any:
    if services.schedules is None:
        raise CommandError("not_found", "This service has no scheduled events.")
    return services.schedules.service


async def _list_schedules(services: Services, channel: str, m: Authed) -> Any:
    return {"schedules": await _schedules(services).list(channel, _who(services, m.token))}


async def _create_schedule(services: Services, channel: str, m: ScheduleMsg) -> Any:
    fields = msgspec.structs.asdict(m)
    fields.pop("token")
    return await _schedules(services).create(channel, _who(services, m.token), **fields)


async def _edit_schedule(services: Services, channel: str, m: EditScheduleMsg) -> Any:
    who = _who(services, m.token)
    fields = msgspec.structs.asdict(m)
    for kept in ("token", "schedule_id", "expected_version"):
        fields.pop(kept)
    changes = {k: v for k, v in fields.items() if v is not msgspec.UNSET}
    return await _schedules(services).change(
        channel, who, m.schedule_id, changes, m.expected_version
    )


async def _set_schedule_active(services: Services, channel: str, m: ScheduleActiveMsg) -> Any:
    who = _who(services, m.token)
    return await _schedules(services).set_active(channel, who, m.schedule_id, m.active)


async def _delete_schedule(services: Services, channel: str, m: ScheduleRef) -> Any:
    await _schedules(services).delete(channel, _who(services, m.token), m.schedule_id)
    return {"deleted": m.schedule_id}


async def _fire_schedule(services: Services, channel: str, m: ScheduleRef) -> Any:
    return await _schedules(services).fire_now(channel, _who(services, m.token), m.schedule_id)


async def _lift_event_lock(services: Services, channel: str, m: Authed) -> Any:
    return await _schedules(services).lift(channel, _who(services, m.token))


async def _upcoming(services: Services, channel: str, m: UpcomingMsg) -> Any:
    who = _who(services, m.token)
    return {"occurrences": await _schedules(services).upcoming(channel, who, m.days)}


#: command (the last subject token) -> (message type, handler); see docs/nats-commands.md.
COMMANDS: dict[str, tuple[type[Any], Handler]] = {
    "request_pay_item": (RequestPayItemMsg, _request),
    "preview_pay_item": (PreviewPayItemMsg, _preview),
    "get_pay_item": (PayItemRef, _status),
    "cancel_pay_item": (CancelPayItemMsg, _cancel),
    "get_wallet": (WalletRef, _wallet),
    "grant": (GrantMsg, _grant),
    "lock_queue": (LockMsg, _lock),
    "unlock_queue": (Authed, _unlock),
    "get_queue": (Empty, _queue),
    "apply_playlist": (ApplyPlaylistMsg, _apply_playlist),
    "get_playlist_apply": (ApplyRef, _get_apply),
    "abort_playlist_apply": (ApplyRef, _abort_apply),
    "get_rules": (Authed, _get_rules),
    "set_rules": (SetRulesMsg, _set_rules),
    "list_blessed": (Authed, _blessed),
    "bless_user": (BlessedRef, _bless),
    "unbless_user": (BlessedRef, _unbless),
    "like": (LikeMsg, _like),
    "get_likes_now": (Empty, _likes_now),
    "top_liked": (TopLikedMsg, _top_liked),
    "get_like_rules": (Authed, _get_like_rules),
    "set_like_rules": (SetLikeRulesMsg, _set_like_rules),
    "refresh_catalog": (RefreshCatalogMsg, _refresh_catalog),
    "get_catalog_refresh": (Authed, _catalog_refresh),
    "search_catalog": (SearchCatalogMsg, _search_catalog),
    "get_catalog_item": (CatalogItemRef, _catalog_item),
    "buy_catalog_item": (BuyCatalogItemMsg, _buy_catalog_item),
    "list_schedules": (Authed, _list_schedules),
    "create_schedule": (ScheduleMsg, _create_schedule),
    "edit_schedule": (EditScheduleMsg, _edit_schedule),
    "set_schedule_active": (ScheduleActiveMsg, _set_schedule_active),
    "delete_schedule": (ScheduleRef, _delete_schedule),
    "fire_schedule": (ScheduleRef, _fire_schedule),
    "lift_event_lock": (Authed, _lift_event_lock),
    "upcoming_schedules": (UpcomingMsg, _upcoming),
}

_encode = msgspec.json.Encoder().encode


def _error(code: str, message: str, **extra: Any) -> bytes:
    return _encode({"ok": False, "error": {"code": code, "message": message, **extra}})


def _ok(result: Any) -> bytes:
    body = msgspec.to_builtins(result) if result is not None else {}
    if not isinstance(body, dict):
        body = {"result": body}
    return _encode({"ok": True, **body})


#: The commands that append to the log: they wait while the service digests a backlog.
WRITES = frozenset(
    {
        "request_pay_item",
        "cancel_pay_item",
        "grant",
        "lock_queue",
        "unlock_queue",
        "set_rules",
        "bless_user",
        "unbless_user",
        "like",
        "apply_playlist",
        "abort_playlist_apply",
        "refresh_catalog",
        "buy_catalog_item",
        "create_schedule",
        "edit_schedule",
        "set_schedule_active",
        "delete_schedule",
        "fire_schedule",
        "lift_event_lock",
    }
)


class NatsCommands:
    """Serves the command subjects of one channel; a queue group lets instances share them."""

    def __init__(self, nc: Client, services: Services, channel: str) -> None:
        self._nc = nc
        self._services = services
        self._channel = channel
        self.subject = f"{PREFIX}.{subject_token(channel)}.*"
        self._sub: Subscription | None = None
        self._decoders = {name: msgspec.json.Decoder(t) for name, (t, _) in COMMANDS.items()}

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self.subject, queue="webqueue", cb=self._on_message)

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # a closed connection took the subscription with it
                log.warning("unsubscribing from %s: %s", self.subject, exc)

    async def resubscribe(self) -> None:
        """After the connection was opened again: its subscriptions went with the old one."""
        if self._sub is not None:
            self._sub = None
            await self.start()

    async def _on_message(self, msg: Msg) -> None:
        reply = await self.handle(msg.subject, msg.data)
        if msg.reply:
            await msg.respond(reply)
        else:
            log.warning("command on %s had no reply subject; it was not run", msg.subject)

    async def handle(self, subject: str, data: bytes) -> bytes:
        name = subject.rsplit(".", 1)[-1]
        entry = COMMANDS.get(name)
        if entry is None:
            return _error("unknown_command", f"No command {name!r}; known: {', '.join(COMMANDS)}.")
        if len(data) > MAX_MESSAGE:
            return _error("invalid_request", f"Messages are at most {MAX_MESSAGE} bytes.")
        try:
            message = self._decoders[name].decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _error("invalid_request", str(exc))
        except RecursionError:
            return _error("invalid_request", "The JSON message is nested too deeply.")
        try:
            if name in WRITES:
                await self._services.kernel.intake.admit()
            return _ok(await entry[1](self._services, self._channel, message))
        except LikeRefused as exc:
            return _encode(
                {
                    "ok": False,
                    "error": {
                        "code": exc.code,
                        "message": exc.message,
                        "until": exc.until,
                        "retry_after_sec": math.ceil(exc.retry_after_sec),
                    },
                }
            )
        except (
            Rejected,
            Unauthenticated,
            Forbidden,
            NotFoundError,
            CommandError,
            PeerUnavailable,
        ) as exc:
            return _error(exc.code, exc.message, **getattr(exc, "extra", {}))
        except (EconomyUnavailable, OutcomeUnknown) as exc:
            log.warning("command %s: the economy did not answer: %s", name, exc)
            return _error(ECONOMY_DOWN, f"The channel's economy did not answer ({exc}).")
        except CytubeUnavailable as exc:
            log.warning("command %s: CyTube did not answer: %s", name, exc)
            return _error(CYTUBE_DOWN, f"CyTube did not answer through Kryten-Robot ({exc}).")
        except StoreFull:
            return _error(LOG_FULL, "The event log is out of storage space; nothing changed.")
        except StoreUnavailable:
            return _error("log_unavailable", "The event log cannot be reached; nothing changed.")
        except ConcurrencyConflict:
            return _error(*BUSY)
        except CommitTooLarge as exc:
            return _error(TOO_LARGE, too_large_message(exc))
        except Busy as exc:
            return _error(exc.code, exc.message)
        except Exception:
            ref = uuid.uuid4().hex
            log.exception("command %s failed (request id %s)", name, ref)
            return _encode(
                {
                    "ok": False,
                    "error": {
                        "code": "internal_error",
                        "message": f"The command failed unexpectedly; quote request id {ref}.",
                        "request_id": ref,
                    },
                }
            )
