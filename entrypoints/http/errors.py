"""One mapping from failures to responses: `{"error": {"code", "message"}}` everywhere."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from application.cytube.port import CytubeUnavailable
from application.errors import NotFoundError, StorageUnavailable
from application.log.intake import Busy
from application.log.ports import CommitTooLarge, ConcurrencyConflict, StoreFull, StoreUnavailable
from application.pay.economy import EconomyUnavailable, OutcomeUnknown
from domain.errors import Rejected
from domain.promos.config import InvalidSetting
from entrypoints.failures import (
    BUSY,
    CYTUBE_DOWN,
    ECONOMY_DOWN,
    LOG_FULL,
    TOO_LARGE,
    PeerUnavailable,
    too_large_message,
)

log = logging.getLogger("webqueue.http")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


#: Refusals with a more telling status than 422.
REJECTION_STATUS = {
    "queue_locked": 423,
    "media_already_pending": 409,
    "media_on_playlist": 409,
    "duplicate_request": 409,
    "request_id_used": 409,
    "title_not_accepted": 400,
    "already_playing": 409,
    "already_played": 409,
    "unknown_request": 404,
    # sign-in (application.identity.signin)
    "otp_wrong": 401,
    "otp_expired": 401,
    "otp_used": 401,
    "otp_exhausted": 401,
    "otp_not_sent": 401,
    "otp_not_requested": 401,
    "otp_locked": 429,
    "otp_rate_limited": 429,
    "otp_rate_limited_ip": 429,
    "ip_throttled": 429,
    "ip_blocked": 403,
    "not_in_channel": 409,
    "name_in_channel": 409,  # the demo panel (entrypoints.http.sim_demo)
    "cytube_unavailable": 503,
    "not_blessed": 404,
    "not_blocked": 404,
    "nothing_to_block": 409,
    # saved playlists and applies (application.playlists)
    "name_taken": 409,
    "version_conflict": 409,
    "apply_running": 409,
    "mode_not_allowed": 403,
    # the catalog (application.catalog)
    "refresh_running": 409,
    "not_the_writer": 409,
    "refresh_unavailable": 503,
    "catalog_item_unavailable": 409,
    # request rules (domain.queue.pay_rules): the purchase conflicts with the channel's rules
    "rule_max_pending": 409,
    "rule_too_short": 409,
    "rule_too_long": 409,
    "rule_viewer_minutes": 409,
    "rule_queue_minutes": 409,
    "rule_cooldown": 429,
    "rule_repeat": 409,
    "rule_media_blocked": 403,
    "rule_user_blocked": 403,
    # scheduled events (application.schedules)
    "schedule_overlap": 409,
    "schedule_exists": 409,
    "event_running": 409,
}


def _rejected(_: Request[Any, Any, Any], exc: Rejected) -> Response[Any]:
    status = REJECTION_STATUS.get(exc.code, 422)
    extra = {"field": exc.field} if isinstance(exc, InvalidSetting) else {}
    extra.update(exc.extra)
    return Response(error_body(exc.code, exc.message, **extra), status_code=status)


def _missing(_: Request[Any, Any, Any], exc: NotFoundError) -> Response[Any]:
    return Response(error_body(exc.code, exc.message), status_code=404)


def _unavailable(_: Request[Any, Any, Any], exc: StoreUnavailable) -> Response[Any]:
    log.warning("event log unavailable: %s", exc)
    return Response(
        error_body("log_unavailable", "The event log cannot be reached; nothing was changed."),
        status_code=503,
        headers={"Retry-After": "2"},
    )


def _log_full(_: Request[Any, Any, Any], exc: StoreFull) -> Response[Any]:
    log.error("event log full: %s", exc)
    return Response(
        error_body(LOG_FULL, "The event log is out of storage space; nothing was changed."),
        status_code=503,
        headers={"Retry-After": "30"},
    )


def _storage(_: Request[Any, Any, Any], exc: StorageUnavailable) -> Response[Any]:
    log.warning("storage unavailable: %s", exc)
    return Response(
        error_body(
            "storage_unavailable",
            f"The service's storage refused a write ({exc}); it tries again by itself.",
        ),
        status_code=503,
        headers={"Retry-After": "5"},
    )


def _busy(_: Request[Any, Any, Any], exc: ConcurrencyConflict) -> Response[Any]:
    log.warning("gave up after repeated write conflicts: %s", exc)
    return Response(error_body(BUSY[0], BUSY[1]), status_code=503, headers={"Retry-After": "1"})


def _behind(_: Request[Any, Any, Any], exc: Busy) -> Response[Any]:
    return Response(
        error_body(exc.code, exc.message), status_code=503, headers={"Retry-After": "1"}
    )


def _peer_down(_: Request[Any, Any, Any], exc: PeerUnavailable) -> Response[Any]:
    log.warning("refused (%s): %s", exc.code, exc.message)
    return Response(
        error_body(exc.code, exc.message), status_code=503, headers={"Retry-After": "5"}
    )


def _economy_failed(
    _: Request[Any, Any, Any], exc: EconomyUnavailable | OutcomeUnknown
) -> Response[Any]:
    log.warning("the economy did not answer: %s", exc)
    message = f"The channel's economy did not answer ({exc}); nothing was changed here."
    return Response(
        error_body(ECONOMY_DOWN, message), status_code=503, headers={"Retry-After": "5"}
    )


def _cytube_failed(_: Request[Any, Any, Any], exc: CytubeUnavailable) -> Response[Any]:
    log.warning("CyTube did not answer: %s", exc)
    message = f"CyTube did not answer through Kryten-Robot ({exc})."
    return Response(error_body(CYTUBE_DOWN, message), status_code=503, headers={"Retry-After": "5"})


def _too_large(_: Request[Any, Any, Any], exc: CommitTooLarge) -> Response[Any]:
    return Response(error_body(TOO_LARGE, too_large_message(exc)), status_code=413)


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """msgspec refuses JSON nested past its depth limit with a RecursionError: the body is at
    fault, not us. Any other RecursionError is a bug of ours, answered as one."""
    if "deserializ" in str(exc):
        return Response(
            error_body("invalid_request", "The JSON body is nested too deeply."), status_code=400
        )
    from entrypoints.http.hardening import unexpected

    return unexpected(request, exc)


def _invalid(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    return Response(
        error_body("invalid_request", str(exc.detail), fields=exc.extra or []), status_code=400
    )


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    # 400 here is a body that is not even JSON: the same `invalid_request` as one that fails
    # validation (and as the NATS subjects answer it), as the documented codes say.
    codes = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    return Response(error_body(code, str(exc.detail)), status_code=exc.status_code)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Rejected: _rejected,
    NotFoundError: _missing,
    StoreUnavailable: _unavailable,
    StorageUnavailable: _storage,
    StoreFull: _log_full,
    ConcurrencyConflict: _busy,
    Busy: _behind,
    PeerUnavailable: _peer_down,
    EconomyUnavailable: _economy_failed,
    OutcomeUnknown: _economy_failed,
    CytubeUnavailable: _cytube_failed,
    ValidationException: _invalid,
    CommitTooLarge: _too_large,
    RecursionError: _too_deep,
    HTTPException: _http,
}
