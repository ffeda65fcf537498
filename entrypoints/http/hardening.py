"""What every HTTP answer carries: a request id, security headers, and no bare 500.

- `X-Request-Id`: the caller's (when it is a short, plain token) or a new one, on every answer.
  An error nobody foresaw is logged with it (and its traceback) and answered as a 500
  `internal_error` that carries the same id, so a report can be matched to the log line.
- Security headers on every answer: a Content-Security-Policy that allows scripts, styles and
  connections from this origin only (images also over https: catalog thumbnails live on the
  media library), no inline code, no framing, `nosniff`,
  `X-Frame-Options: DENY` and no referrer. A page that still has inline code may name its exact
  blocks by hash (`page_csp`), never 'unsafe-inline'.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from typing import Any

from litestar import Request, Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.errors import error_body

log = logging.getLogger("webqueue.http")

REQUEST_ID_HEADER = "x-request-id"
_SCOPE_KEY = "webqueue.request_id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _csp(scripts: str = "'self'", styles: str = "'self'") -> str:
    return (
        f"default-src 'self'; script-src {scripts}; style-src {styles}; "
        "img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; "
        "frame-ancestors 'none'"
    )


CSP = _csp()
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_INLINE = {
    "script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I),
    "style": re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I),
}


def _hashes(kind: str, html: str) -> str:
    found = [
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for block in _INLINE[kind].findall(html)
    ]
    return " ".join(["'self'", *found])


def page_csp(html: str) -> str:
    """The policy for `html`: this origin, plus its own inline blocks by hash (if any)."""
    return _csp(_hashes("script", html), _hashes("style", html))


def request_id(scope: Any) -> str | None:
    value = scope.get(_SCOPE_KEY) if hasattr(scope, "get") else None
    return value if isinstance(value, str) else None


def hardening_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER.encode()), b"")
        text = given.decode("latin-1")
        rid = text if _SAFE_ID.match(text) else uuid.uuid4().hex
        scope[_SCOPE_KEY] = rid  # type: ignore[literal-required]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.append((REQUEST_ID_HEADER.encode(), rid.encode()))
                for name, value in SECURITY_HEADERS:
                    if name not in names:
                        headers.append((name, value))
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    rid = request_id(request.scope) or uuid.uuid4().hex
    log.error(
        "unexpected error on %s %s (request id %s)",
        request.method,
        request.url.path,
        rid,
        exc_info=exc,
    )
    return Response(
        error_body(
            "internal_error",
            f"Something went wrong on our side; nothing you sent was at fault. Quote request "
            f"id {rid} when you report it.",
            request_id=rid,
        ),
        status_code=500,
    )


def hardened(exception_handlers: dict[Any, Any]) -> dict[str, Any]:
    """Litestar keyword arguments: the middleware, and the last-resort 500 handler."""
    return {
        "middleware": [hardening_middleware],
        "exception_handlers": {Exception: unexpected, **exception_handlers},
    }
