"""A MediaCMS-shaped HTTP server (real HTTP, a thread of its own) with the page and field shapes
and rules of MediaCMS 8.3, as a real 8.3.2 (1,300 items, PostgreSQL) answered them: DRF pages of
a fixed 50 with an absolute `next` that is the request's own URL with `page` replaced (so it
repeats `page_size` only when it was asked; `previous` of page 2 has no `page`), 404 "Invalid
page." past the end or for a page that is not a number; the public listing capped at 1,000,
newest first, showing only listable items except to editors (who see everything there too); the
editors-only uncapped `manage_media` (403 for other tokens, 403 "Authentication credentials were
not provided." without one); a bad token 403 "Invalid token." everywhere; details without
`friendly_token` (a private item: 400 "media file does not exist" for an anonymous caller, 401
"media is private" for a signed-in non-editor; an unknown token 400); the page's `tags` joined by
", "; categories as a bare list (`user` only when there is one); a path it does not know answers
Django's HTML 404 page, not JSON. Faults on demand: a 500, a page slower than the client's
timeout, both once."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from attrs import define, field

EDITOR_TOKEN = "e" * 40
USER_TOKEN = "a" * 40
PAGE = 50
CAP = 1000
NOT_FOUND_PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<title> - error</title>\n</head>\n'
    "<body><h1>Page not found</h1></body>\n</html>\n"
)


@define
class Media:
    token: str
    title: str
    duration: int = 600
    state: str = "public"
    encoding_status: str = "success"
    is_reviewed: bool = True
    media_type: str = "video"
    categories: list[str] = field(factory=list)
    tags: list[str] = field(factory=list)
    added: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    thumbnail: bool = True  # MediaCMS answers `thumbnail_url: null` for an item without one

    @property
    def listable(self) -> bool:
        return self.state == "public" and self.encoding_status == "success" and self.is_reviewed


@define
class Library:
    media: list[Media] = field(factory=list)
    fail: Counter[str] = field(factory=Counter)  # path (with query) -> times to answer 500
    slow_once: dict[str, float] = field(factory=dict)  # path -> seconds, once
    facets: bool = False  # the customised bulk endpoint
    hits: Counter[str] = field(factory=Counter)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(factory=threading.Lock)

    def add(self, count: int, **kw: Any) -> None:
        start = len(self.media)
        for n in range(start, start + count):
            self.media.append(
                Media(
                    token=f"tok{n:06d}",
                    title=f"Feature {n}",
                    categories=[["Horror", "Comedy", "Noir"][n % 3]],
                    tags=[f"t{n % 5}"],
                    added=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
                    **kw,
                )
            )


def _list_item(m: Media, base: str) -> dict[str, Any]:
    return {
        "friendly_token": m.token,
        "url": f"{base}/view?m={m.token}",
        "api_url": f"{base}/api/v1/media/{m.token}",
        "user": "uploader",
        "title": m.title,
        "description": "",
        "add_date": m.added.isoformat(),
        "views": 3,
        "media_type": m.media_type,
        "state": m.state,
        "duration": m.duration,
        "thumbnail_url": f"{base}/media/original/thumbnails/{m.token}.jpg" if m.thumbnail else None,
        "is_reviewed": m.is_reviewed,
        "encoding_status": m.encoding_status,
        "likes": 1,
        "dislikes": 0,
        "featured": False,
        "size": "1.2GB",
        "author_name": "",
        "author_profile": f"{base}/user/uploader/",
        "author_thumbnail": f"{base}/media/userlogos/user.jpg",
    }


class _Handler(BaseHTTPRequestHandler):
    library: Library
    base: str

    def log_message(self, *args: Any) -> None:
        return None

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def _send_html_404(self) -> None:
        data = NOT_FOUND_PAGE.encode()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def _caller(self) -> str | None:
        """None: anonymous; "bad": an invalid token; else the token."""
        auth = self.headers.get("Authorization", "")
        if not auth:
            return None
        token = auth.removeprefix("Token ").strip()
        return token if token in (EDITOR_TOKEN, USER_TOKEN) else "bad"

    def do_GET(self) -> None:
        lib = self.library
        url = urlsplit(self.path)
        with lib.lock:
            lib.hits[url.path] += 1
            lib.in_flight += 1
            lib.most_in_flight = max(lib.most_in_flight, lib.in_flight)
        try:
            self._route(url.path, parse_qs(url.query), self.path)
        finally:
            with lib.lock:
                lib.in_flight -= 1

    def _route(self, path: str, query: dict[str, list[str]], full: str) -> None:
        lib = self.library
        with lib.lock:
            fail = lib.fail[full] > 0
            if fail:
                lib.fail[full] -= 1
            slow = lib.slow_once.pop(full, 0.0)
        if slow:
            time.sleep(slow)
        if fail:
            self._send(500, {"detail": "Server Error"})
            return
        caller = self._caller()
        if caller == "bad":
            self._send(403, {"detail": "Invalid token."})
            return
        if path == "/api/v1/media":
            editor = caller == EDITOR_TOKEN
            items = [m for m in reversed(lib.media) if editor or m.listable][:CAP]
            self._page(path, items, query)
        elif path == "/api/v1/manage_media":
            if caller is None:
                self._send(403, {"detail": "Authentication credentials were not provided."})
                return
            if caller != EDITOR_TOKEN:
                self._send(403, {"detail": "You do not have permission to perform this action."})
                return
            self._page(path, list(reversed(lib.media)), query)
        elif path.startswith("/api/v1/media/") and path.count("/") == 4:
            self._detail(path.rsplit("/", 1)[1], caller)
        elif path == "/api/v1/categories":
            names = sorted({c for m in lib.media for c in m.categories})
            self._send(
                200,
                [
                    {
                        "title": n,
                        "uid": f"uid-{n}",
                        "description": "",
                        "is_global": False,
                        "media_count": sum(n in m.categories for m in lib.media),
                        "user": "admin",
                        "thumbnail_url": None,
                        "is_lms_course": False,
                    }
                    for n in names
                ],
            )
        elif path == "/api/v1/media_facets" and lib.facets:
            page = int(query.get("page", ["1"])[0])
            size = int(query.get("page_size", ["500"])[0])
            chunk = lib.media[(page - 1) * size : page * size]
            self._send(
                200,
                {
                    "results": [
                        {"friendly_token": m.token, "tags": m.tags, "categories": m.categories}
                        for m in chunk
                    ],
                    "has_next": page * size < len(lib.media),
                },
            )
        else:
            self._send_html_404()

    def _link(self, path: str, query: dict[str, list[str]], page: int) -> str:
        """DRF's: the request's URL with `page` replaced, or removed for the first page."""
        rest = {k: v for k, v in query.items() if k != "page"}
        pairs = ([("page", str(page))] if page > 1 else []) + [
            (k, x) for k, v in rest.items() for x in v
        ]
        return f"{self.base}{path}" + (f"?{urlencode(pairs)}" if pairs else "")

    def _page(self, path: str, items: list[Media], query: dict[str, list[str]]) -> None:
        raw = query.get("page", ["1"])[0]
        page = int(raw) if raw.isdigit() else 0
        chunk = items[(page - 1) * PAGE : page * PAGE] if page else []
        if page < 1 or (page > 1 and not chunk):
            self._send(404, {"detail": "Invalid page."})
            return
        more = page * PAGE < len(items)
        self._send(
            200,
            {
                "count": len(items),
                "next": self._link(path, query, page + 1) if more else None,
                "previous": self._link(path, query, page - 1) if page > 1 else None,
                "results": [_list_item(m, self.base) for m in chunk],
                "tags": ", ".join(sorted({t for m in chunk for t in m.tags})),
            },
        )

    def _detail(self, token: str, caller: str | None) -> None:
        found = next((m for m in self.library.media if m.token == token), None)
        if found is None or (found.state == "private" and caller is None):
            self._send(400, {"detail": "media file does not exist"})
            return
        if found.state == "private" and caller != EDITOR_TOKEN:
            self._send(401, {"detail": "media is private"})
            return
        body = _list_item(found, self.base)
        del body["friendly_token"]  # the detail has none
        body.update(
            categories_info=[
                {"title": c, "url": f"/search?c={c}", "is_lms_course": False}
                for c in found.categories
            ],
            tags_info=[{"title": t, "url": f"/search?t={t}"} for t in found.tags],
            edit_date=found.added.isoformat(),
            thumbnail_url=f"/media/original/thumbnails/{token}.jpg" if found.thumbnail else None,
            poster_url=f"/media/original/posters/{token}.jpg",
            related_media=[_list_item(m, self.base) for m in self.library.media[:100]],
        )
        self._send(200, body)


class MediaCmsServer:
    def __init__(self, library: Library) -> None:
        self.library = library
        handler = type("Handler", (_Handler,), {"library": library, "base": ""})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        handler.base = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> MediaCmsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
