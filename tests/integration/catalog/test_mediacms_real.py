"""The MediaCMS connector against a real MediaCMS, when one is named: WEBQUEUE_TEST_MEDIACMS_URL
(the site), WEBQUEUE_TEST_MEDIACMS_TOKEN (an editor's API token) and, optionally,
WEBQUEUE_TEST_MEDIACMS_USER_TOKEN (a token of a user who is not an editor). Not a peer the suite
starts, so these skip without it, in CI too (docs/catalog.md says how one was stood up). They
read the whole library once (every item's detail: about 0.2 s an item on a small server) and
compare what the connector made of it with what the server's own listing says."""

from __future__ import annotations

import asyncio
import os
import socket

import httpx
import pytest

from adapters.mediacms.source import PUBLIC_CAP, MediaCmsSource
from application.catalog.ports import CatalogSourceError
from domain.catalog.items import CatalogItem

URL = os.environ.get("WEBQUEUE_TEST_MEDIACMS_URL", "").strip()
TOKEN = os.environ.get("WEBQUEUE_TEST_MEDIACMS_TOKEN", "").strip()
USER_TOKEN = os.environ.get("WEBQUEUE_TEST_MEDIACMS_USER_TOKEN", "").strip()
TEMPLATE = "{base}/api/v1/media/cytube/{video_id}.json?format=json"

pytestmark = pytest.mark.skipif(
    not (URL and TOKEN),
    reason="no real MediaCMS named (WEBQUEUE_TEST_MEDIACMS_URL and _TOKEN)",
)


class Report:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.listed_calls: list[tuple[int, int | None]] = []

    def listed(self, count: int, total: int | None) -> None:
        self.listed_calls.append((count, total))

    def detailed(self, done: int, needed: int) -> None:
        return None

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _get(path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Token {token}"} if token else {}
    return httpx.get(URL.rstrip("/") + path, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def library() -> list[CatalogItem]:
    return asyncio.run(MediaCmsSource(URL, TEMPLATE, token=TOKEN).read({}, Report()))


async def test_the_editor_token_reads_the_whole_library(library: list[CatalogItem]) -> None:
    total = _get("/api/v1/manage_media", TOKEN).json()["count"]
    assert len(library) == total  # uncapped, private and unlisted included
    assert len({i.video_id for i in library}) == total
    first = _get("/api/v1/manage_media", TOKEN).json()["results"][0]
    mine = next(i for i in library if i.video_id == first["friendly_token"])
    assert mine.title == first["title"]
    detail = _get(f"/api/v1/media/{mine.video_id}", TOKEN).json()
    assert list(mine.categories) == [c["title"] for c in detail["categories_info"]]
    assert list(mine.tags) == [t["title"] for t in detail["tags_info"]]
    names = [c["title"] for c in _get("/api/v1/categories").json()]  # a bare list
    for name in names:
        if any(name in other for other in names if other != name):
            continue  # manage_media's `category` filter matches a substring of the title
        count = _get(f"/api/v1/manage_media?category={name}", TOKEN).json()["count"]
        assert sum(name in i.categories for i in library) == count, name


async def test_a_non_editor_sees_the_public_listing_and_is_told_of_the_cap(
    library: list[CatalogItem],
) -> None:
    known = {i.key: i for i in library}  # so the details are reused, not read again
    report = Report()
    items = await MediaCmsSource(URL, TEMPLATE, token=USER_TOKEN or None).read(known, report)
    public = _get("/api/v1/media").json()["count"]
    assert len(items) == public <= PUBLIC_CAP
    assert all(i.available or i.unavailable_reason for i in items)
    if USER_TOKEN:
        assert any("not an editor" in w for w in report.warnings)
    if public == PUBLIC_CAP:
        assert any("1,000" in w for w in report.warnings)


async def test_a_bad_token_is_a_403_naming_the_host() -> None:
    with pytest.raises(CatalogSourceError) as failed:
        await MediaCmsSource(URL, TEMPLATE, token="0" * 40).read({}, Report())
    assert "403" in str(failed.value) and "Invalid token" in str(failed.value)
    assert httpx.URL(URL).host in str(failed.value)


async def test_a_refused_connection_names_the_host() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bad = MediaCmsSource(f"http://127.0.0.1:{port}", TEMPLATE, token=TOKEN, retries=1)
    with pytest.raises(CatalogSourceError) as failed:
        await bad.read({}, Report())
    assert "refused" in str(failed.value) and f"127.0.0.1:{port}" in str(failed.value)
