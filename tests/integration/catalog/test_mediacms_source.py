"""The MediaCMS connector against a MediaCMS-shaped HTTP server: the uncapped editor listing,
the capped public one (and the warning), fixed pages followed by `next`, details only for new or
changed items and never too many at once, details without `friendly_token`, a 500 and a slow page
retried, an item with no duration kept but unavailable, the bulk facets endpoint, and clear
errors naming the host for a bad token, a refused connection and an unknown host."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from adapters.mediacms.source import MediaCmsSource, base_url
from application.catalog.ports import CatalogSourceError
from domain.catalog.items import CatalogItem
from tests.integration.catalog.mediacms_server import (
    EDITOR_TOKEN,
    USER_TOKEN,
    Library,
    MediaCmsServer,
)

TEMPLATE = "{base}/api/v1/media/cytube/{video_id}.json?format=json"


class Report:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.listed_calls: list[tuple[int, int | None]] = []
        self.details: list[tuple[int, int]] = []

    def listed(self, count: int, total: int | None) -> None:
        self.listed_calls.append((count, total))

    def detailed(self, done: int, needed: int) -> None:
        self.details.append((done, needed))

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@pytest.fixture
def library() -> Library:
    lib = Library()
    lib.add(120)
    lib.media[5].state = "private"
    lib.media[6].encoding_status = "pending"
    lib.media[7].duration = 0  # no duration yet
    lib.media[8].thumbnail = False  # `thumbnail_url: null`, as MediaCMS lists one without
    return lib


@pytest.fixture
def server(library: Library) -> Iterator[MediaCmsServer]:
    with MediaCmsServer(library) as running:
        yield running


def source(server: MediaCmsServer, **kw: object) -> MediaCmsSource:
    kw.setdefault("backoff_sec", 0.01)
    return MediaCmsSource(server.url + "/api/v1/", TEMPLATE, **kw)  # type: ignore[arg-type]


def test_base_url_takes_either_form() -> None:
    assert base_url("https://m.example/api/v1/") == "https://m.example"
    assert base_url("https://m.example/") == "https://m.example"


async def test_the_editor_listing_reads_everything_with_details(
    server: MediaCmsServer, library: Library
) -> None:
    report = Report()
    items = await source(server, token=EDITOR_TOKEN, detail_concurrency=3).read({}, report)
    assert len(items) == 120  # private and pending included
    assert library.hits["/api/v1/manage_media"] == 3  # 50 + 50 + 20, by `next`
    assert report.listed_calls[-1] == (120, 120)
    by_id = {i.video_id: i for i in items}
    first = by_id["tok000000"]
    assert first.categories == ("Horror",) and first.tags == ("t0",)
    assert first.manifest_url == f"{server.url}/api/v1/media/cytube/tok000000.json?format=json"
    assert first.available and first.duration_sec == 600
    assert first.thumbnail_url and first.thumbnail_url.startswith("http")
    assert first.published_at is not None and first.published_at.tzinfo is not None
    assert not by_id["tok000005"].available and "private" in (
        by_id["tok000005"].unavailable_reason or ""
    )
    assert "encoding" in (by_id["tok000006"].unavailable_reason or "")
    assert "duration" in (by_id["tok000007"].unavailable_reason or "")
    assert by_id["tok000008"].thumbnail_url is None and by_id["tok000008"].available
    assert by_id["tok000007"].categories == ("Comedy",)  # kept, with its details
    assert sum(v for k, v in library.hits.items() if k.startswith("/api/v1/media/")) == 120
    assert library.most_in_flight <= 3
    assert report.warnings == []


async def test_details_are_read_again_only_for_new_or_changed_items(
    server: MediaCmsServer, library: Library
) -> None:
    first = await source(server, token=EDITOR_TOKEN).read({}, Report())
    known: dict[str, CatalogItem] = {i.key: i for i in first}
    library.add(3)
    library.media[10].title = "Feature 10 (restored)"
    details_before = sum(v for k, v in library.hits.items() if k.startswith("/api/v1/media/"))
    again = await source(server, token=EDITOR_TOKEN).read(known, Report())
    details = sum(v for k, v in library.hits.items() if k.startswith("/api/v1/media/"))
    assert details - details_before == 4  # three new, one changed
    assert {i.video_id: i for i in again}["tok000011"].categories == ("Noir",)  # reused


async def test_the_public_listing_is_capped_and_says_so(library: Library) -> None:
    library.add(1100)
    library.facets = True  # (1,000 details would take a while)
    with MediaCmsServer(library) as server:
        report = Report()
        items = await source(server).read({}, report)
    assert len(items) == 1000
    assert all(i.available for i in items)  # only listable items are public
    assert items[0].video_id == "tok001219"  # newest first
    assert any("1,000" in w for w in report.warnings)


async def test_a_non_editor_token_falls_back_to_the_public_listing(
    server: MediaCmsServer,
) -> None:
    report = Report()
    items = await source(server, token=USER_TOKEN).read({}, report)
    assert len(items) == 118  # the private and the unencoded one are not public
    assert any("not an editor" in w for w in report.warnings)


async def test_a_bad_token_is_a_clear_error(server: MediaCmsServer) -> None:
    with pytest.raises(CatalogSourceError) as failed:
        await source(server, token="0" * 40).read({}, Report())
    text = str(failed.value)
    assert "127.0.0.1" in text and "Invalid token" in text and "403" in text


async def test_a_500_and_a_slow_page_are_retried(server: MediaCmsServer, library: Library) -> None:
    library.fail["/api/v1/manage_media?page=2"] = 1
    library.slow_once["/api/v1/manage_media?page=3"] = 1.5
    items = await source(server, token=EDITOR_TOKEN, timeout_sec=0.5).read({}, Report())
    assert len(items) == 120
    assert library.hits["/api/v1/manage_media"] == 5  # two pages asked twice


async def test_retries_give_up_with_the_cause(server: MediaCmsServer, library: Library) -> None:
    library.fail["/api/v1/media"] = 3
    with pytest.raises(CatalogSourceError) as failed:
        await source(server, retries=1).read({}, Report())
    assert "HTTP 500" in str(failed.value) and "2 tries" in str(failed.value)


async def test_the_bulk_facets_endpoint_replaces_details(
    server: MediaCmsServer, library: Library
) -> None:
    library.facets = True
    items = await source(server, token=EDITOR_TOKEN).read({}, Report())
    assert {i.video_id: i for i in items}["tok000002"].categories == ("Noir",)
    assert not any(k.startswith("/api/v1/media/") for k in library.hits)


async def test_a_refused_connection_names_the_host() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bad = MediaCmsSource(f"http://127.0.0.1:{port}", TEMPLATE, retries=1, backoff_sec=0.01)
    with pytest.raises(CatalogSourceError) as failed:
        await bad.read({}, Report())
    assert f"127.0.0.1:{port}" in str(failed.value) and "refused" in str(failed.value)


async def test_an_unknown_host_is_a_dns_error() -> None:
    bad = MediaCmsSource("http://no-such-host.invalid", TEMPLATE, retries=3, backoff_sec=0.01)
    with pytest.raises(CatalogSourceError) as failed:
        await bad.read({}, Report())
    assert "no-such-host.invalid" in str(failed.value) and "DNS" in str(failed.value)
