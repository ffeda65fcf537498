"""One mapping from failures to responses: `{"error": {"code", "message"}}` everywhere."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from application.ports import StoreUnavailable
from domain.errors import Rejected

log = logging.getLogger("webqueue.http")


class NotFound(LookupError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _rejected(_: Request[Any, Any, Any], exc: Rejected) -> Response[Any]:
    return Response(error_body(exc.code, exc.message), status_code=422)


def _not_found(_: Request[Any, Any, Any], exc: NotFound) -> Response[Any]:
    return Response(error_body(exc.code, exc.message), status_code=404)


def _unavailable(_: Request[Any, Any, Any], exc: StoreUnavailable) -> Response[Any]:
    log.warning("event log unavailable: %s", exc)
    return Response(
        error_body("log_unavailable", "The event log cannot be reached; nothing was changed."),
        status_code=503,
        headers={"Retry-After": "2"},
    )


def _invalid(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    return Response(
        error_body("invalid_request", str(exc.detail), fields=exc.extra or []), status_code=400
    )


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return Response(error_body(code, str(exc.detail)), status_code=exc.status_code)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Rejected: _rejected,
    NotFound: _not_found,
    StoreUnavailable: _unavailable,
    ValidationException: _invalid,
    HTTPException: _http,
}
