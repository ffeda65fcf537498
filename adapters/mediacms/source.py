"""The whole MediaCMS library, read the way its API allows (docs/catalog.md, MEDIACMS facts):

- the editors' listing `/api/v1/manage_media` (no cap, private and unlisted items included)
  when the token is an editor's; otherwise the public `/api/v1/media`, capped at 1,000 items
  for everyone, with a warning that says so when the cap is reached;
- DRF pages of a fixed 50 items, followed by their absolute `next` URL as given;
- categories and tags are not in the listing: from a customised instance's bulk
  `/api/v1/media_facets` when it has one (stock MediaCMS answers 404 there), else from each
  item's detail (`/api/v1/media/{token}`, about 69 KB each, which carries no `friendly_token`:
  the one asked for is kept), read with bounded concurrency and only for items that are new or
  whose listing changed (title, duration, thumbnail, date, state), reusing the last snapshot's
  for the rest unless `details = "all"`;
- timeouts, dropped connections, 429 and 5xx answers are retried with exponential back-off; a
  host that cannot be resolved, a refused connection, 401 and 403 (a bad token is a 403 there)
  end the refresh with an error naming the host and the cause.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from application.catalog.ports import CatalogSourceError, Report
from domain.catalog.items import CatalogItem, make_item

log = logging.getLogger(__name__)

PAGE_SIZE = 50  # fixed by MediaCMS; `page_size` is ignored
PUBLIC_CAP = 1000
_API = "/api/v1"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def base_url(url: str) -> str:
    """Operators paste the site or its API root, with or without a trailing slash."""
    url = url.strip().rstrip("/")
    if url.endswith(_API):
        url = url[: -len(_API)]
    return url.rstrip("/")


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _titles(value: Any) -> tuple[str, ...]:
    """`categories_info` / `tags_info` lists of `{title}`, or plain names, or a joined string."""
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    out = []
    for entry in value:
        name = entry.get("title") if isinstance(entry, dict) else entry
        if name:
            out.append(str(name))
    return tuple(out)


class MediaCmsSource:
    def __init__(
        self,
        url: str,
        manifest_template: str,
        *,
        token: str | None = None,
        timeout_sec: float = 30.0,
        retries: int = 4,
        detail_concurrency: int = 4,
        facets_endpoint: bool = True,
        backoff_sec: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = base_url(url)
        self._host = urlsplit(self._base).netloc or self._base
        self._template = manifest_template.replace("{base}", self._base)
        self._token = token
        self._timeout = timeout_sec
        self._retries = max(retries, 0)
        self._concurrency = max(detail_concurrency, 1)
        self._facets = facets_endpoint
        self._backoff = backoff_sec
        self._transport = transport

    @property
    def description(self) -> str:
        return f"MediaCMS at {self._host}"

    def _client(self) -> httpx.AsyncClient:
        headers = {"Accept": "application/json", "User-Agent": "webqueue-catalog"}
        if self._token:
            headers["Authorization"] = f"Token {self._token}"
        return httpx.AsyncClient(
            base_url=self._base,
            headers=headers,
            timeout=self._timeout,
            transport=self._transport,
            follow_redirects=True,
        )

    # ---- one request, retried --------------------------------------------------------------

    def _fail(self, cause: str) -> CatalogSourceError:
        return CatalogSourceError(f"MediaCMS at {self._host}: {cause}")

    async def _get(self, client: httpx.AsyncClient, url: str, **params: Any) -> httpx.Response:
        """A GET that answered below 500 (the caller looks at 4xx), after retries."""
        last = "no answer"
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(min(self._backoff * 2 ** (attempt - 1), 30.0))
            try:
                response = await client.get(url, params=params or None)
            except httpx.ConnectError as exc:
                cause = _root(exc)
                if isinstance(cause, socket.gaierror):
                    raise self._fail(
                        f"the host name cannot be resolved (DNS): {cause.strerror or cause}"
                    ) from None
                last = (
                    "the connection was refused (is MediaCMS running at that address?)"
                    if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause)
                    else f"cannot connect: {cause or exc}"
                )
            except httpx.TimeoutException:
                last = f"no answer within {self._timeout:g} s (timeout)"
            except httpx.TransportError as exc:
                last = f"the connection failed: {exc!r}"
            else:
                if response.status_code in _RETRY_STATUS:
                    last = f"HTTP {response.status_code} from {response.url.path}"
                    continue
                if response.status_code == 401:
                    raise self._fail(
                        f"401 Unauthorized from {response.url.path}: the API wants a sign-in"
                        " (set [catalog] mediacms_token)"
                    )
                return response
            log.info("catalog: %s on %s, try %d", last, url, attempt + 1)
        raise self._fail(f"{last}, after {self._retries + 1} tries")

    @staticmethod
    def _detail_of(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:200]
        return str(body.get("detail", body))[:200] if isinstance(body, dict) else str(body)[:200]

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._fail(
                f"{response.url.path} did not answer JSON (HTTP {response.status_code})"
            ) from None

    # ---- listing ----------------------------------------------------------------------------

    async def _pages(
        self, client: httpx.AsyncClient, path: str, report: Report, first: httpx.Response
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        response: httpx.Response | None = first
        seen: set[str] = set()
        while response is not None:
            if response.status_code == 404 and items:
                report.warn(f"{response.url} answered 404 (past the last page); stopped there")
                break
            if response.status_code != 200:
                raise self._fail(
                    f"HTTP {response.status_code} from {response.url.path}: "
                    f"{self._detail_of(response)}"
                )
            page = self._json(response)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise self._fail(f"{path} did not answer a page of results")
            items.extend(r for r in page["results"] if isinstance(r, dict))
            count = page.get("count")
            report.listed(len(items), count if isinstance(count, int) else None)
            following = page.get("next")
            if not following or following in seen:
                break
            seen.add(following)
            response = await self._get(client, following)
        return items

    async def _listing(self, client: httpx.AsyncClient, report: Report) -> list[dict[str, Any]]:
        if self._token:
            path = f"{_API}/manage_media"
            first = await self._get(client, path)
            if first.status_code == 200:
                return await self._pages(client, path, report, first)
            detail = self._detail_of(first)
            if first.status_code == 403 and "invalid token" in detail.lower():
                raise self._fail(f"403 from {path}: {detail} (check [catalog] mediacms_token)")
            if first.status_code != 403:
                raise self._fail(f"HTTP {first.status_code} from {path}: {detail}")
            report.warn(
                "The token is not an editor's (manage_media answered 403): reading the public "
                f"listing instead, which shows at most {PUBLIC_CAP:,} listable items."
            )
        path = f"{_API}/media"
        first = await self._get(client, path)
        if first.status_code == 403:
            raise self._fail(f"403 from {path}: {self._detail_of(first)}")
        items = await self._pages(client, path, report, first)
        if len(items) >= PUBLIC_CAP:
            report.warn(
                f"The public listing stops at {PUBLIC_CAP:,} items, so the library may hold "
                "more than were read; a token of a MediaCMS editor reads all of it."
            )
        return items

    # ---- categories and tags ----------------------------------------------------------------

    async def _bulk_facets(
        self, client: httpx.AsyncClient
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None:
        if not self._facets:
            return None
        found: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        page = 1
        while True:
            response = await self._get(client, f"{_API}/media_facets", page=page, page_size=500)
            if response.status_code != 200:
                return None if page == 1 else found
            try:
                body = response.json()
            except ValueError:
                return None if page == 1 else found
            if not isinstance(body, dict):
                return None
            for row in body.get("results") or []:
                if isinstance(row, dict) and row.get("friendly_token"):
                    found[str(row["friendly_token"])] = (
                        _titles(row.get("categories")),
                        _titles(row.get("tags")),
                    )
            if not body.get("has_next"):
                return found
            page += 1

    async def _details(
        self,
        client: httpx.AsyncClient,
        tokens: list[str],
        report: Report,
    ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        found: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        gate = asyncio.Semaphore(self._concurrency)
        done = 0
        unreadable: list[str] = []
        report.detailed(0, len(tokens))

        async def one(token: str) -> None:
            nonlocal done
            async with gate:
                response = await self._get(client, f"{_API}/media/{token}")
            if response.status_code == 200:
                body = self._json(response)
                if isinstance(body, dict):
                    found[token] = (
                        _titles(body.get("categories_info")),
                        _titles(body.get("tags_info")),
                    )
            else:
                unreadable.append(token)
            done += 1
            report.detailed(done, len(tokens))

        await asyncio.gather(*(one(t) for t in tokens))
        if unreadable:
            report.warn(
                f"{len(unreadable)} item details could not be read (for example "
                f"{unreadable[0]!r}): they are listed without categories"
            )
        return found

    # ---- the whole read ---------------------------------------------------------------------

    def _item(
        self,
        raw: dict[str, Any],
        ordinal: int,
        facets: tuple[tuple[str, ...], tuple[str, ...]],
    ) -> CatalogItem:
        try:
            duration = int(float(raw.get("duration") or 0))
        except (TypeError, ValueError):
            duration = 0
        return make_item(
            video_id=str(raw.get("friendly_token") or ""),
            title=str(raw.get("title") or ""),
            ordinal=ordinal,
            manifest_template=self._template,
            categories=facets[0],
            tags=facets[1],
            duration_sec=duration,
            thumbnail_url=str(raw["thumbnail_url"]) if raw.get("thumbnail_url") else None,
            published_at=_when(raw.get("add_date")),
            state=str(raw["state"]) if raw.get("state") else None,
            encoding_status=(str(raw["encoding_status"]) if raw.get("encoding_status") else None),
            media_type=str(raw["media_type"]) if raw.get("media_type") else None,
            is_reviewed=raw.get("is_reviewed")
            if isinstance(raw.get("is_reviewed"), bool)
            else None,
        )

    async def read(self, known: Mapping[str, CatalogItem], report: Report) -> list[CatalogItem]:
        async with self._client() as client:
            listing = await self._listing(client, report)
            bare = [self._item(raw, n, ((), ())) for n, raw in enumerate(listing)]
            facets = await self._bulk_facets(client)
            if facets is None:
                wanted: list[str] = []
                reuse: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
                for item in bare:
                    if not item.video_id or item.key != item.video_id:
                        continue
                    old = known.get(item.key)
                    if old is not None and _same_listing(old, item):
                        reuse[item.key] = (old.categories, old.tags)
                    else:
                        wanted.append(item.video_id)
                facets = {**reuse, **await self._details(client, wanted, report)}
        return [
            self._item(raw, n, facets.get(item.video_id, ((), ())))
            for n, (raw, item) in enumerate(zip(listing, bare, strict=True))
        ]


def _root(exc: BaseException) -> BaseException:
    """The OS error under httpx's and anyio's wrappers (a refused connection, a DNS miss)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for found in seen:
        if isinstance(found, socket.gaierror | ConnectionRefusedError):
            return found
    return next((e for e in reversed(seen) if isinstance(e, OSError)), exc)


def _same_listing(old: CatalogItem, new: CatalogItem) -> bool:
    """Nothing the listing shows has changed, so the detail is taken to be the same too."""
    return (
        old.title,
        old.duration_sec,
        old.thumbnail_url,
        old.published_at,
        old.available,
    ) == (new.title, new.duration_sec, new.thumbnail_url, new.published_at, new.available)
