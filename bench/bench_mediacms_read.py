"""Reading a real MediaCMS: what a catalog refresh's read costs, ours next to bare HTTP.

Needs a MediaCMS to read (never started by this script): WEBQUEUE_BENCH_MEDIACMS_URL and an
editor's token in WEBQUEUE_BENCH_MEDIACMS_TOKEN (docs/catalog.md says how one was stood up).

- ours, first read: `MediaCmsSource.read({})`, the editors' listing and every item's detail
  (`detail_concurrency` at a time), as the first refresh of a channel does;
- ours, nothing changed: `read(known)` with the first read's items, as every later refresh does
  (the listing only, details reused);
- raw: the same listing pages followed by `next`, and details of the same items at the same
  concurrency, as plain httpx GETs with nothing done with the answers;
- the detail sweep: raw details of a sample of items at 1, 2, 4, 8 at a time (what the server can
  give; the figure that decides `detail_concurrency`).

    WEBQUEUE_BENCH_MEDIACMS_URL=http://127.0.0.1:8765 WEBQUEUE_BENCH_MEDIACMS_TOKEN=... \
        python bench/bench_mediacms_read.py [--sample 200] [--concurrency 4] [--sweep 1,2,4,8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
from common import load_average, started_record, table, write_json  # noqa: E402

from adapters.mediacms.source import MediaCmsSource, base_url  # noqa: E402

TEMPLATE = "{base}/api/v1/media/cytube/{video_id}.json?format=json"


class Report:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def listed(self, count: int, total: int | None) -> None:
        return None

    def detailed(self, done: int, needed: int) -> None:
        return None

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _client(url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url(url),
        headers={"Authorization": f"Token {token}", "Accept": "application/json"},
        timeout=60,
    )


async def raw_listing(url: str, token: str) -> tuple[float, list[str], int]:
    """Seconds, the tokens in listing order, bytes read."""
    async with _client(url, token) as client:
        start = time.perf_counter()
        tokens: list[str] = []
        size = 0
        next_url: str | None = "/api/v1/manage_media"
        while next_url:
            response = await client.get(next_url)
            response.raise_for_status()
            size += len(response.content)
            page = response.json()
            tokens.extend(r["friendly_token"] for r in page["results"])
            next_url = page["next"]
        return time.perf_counter() - start, tokens, size


async def raw_details(url: str, token: str, tokens: list[str], at_once: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(at_once)
    sizes: list[int] = []
    each: list[float] = []
    async with _client(url, token) as client:

        async def one(t: str) -> None:
            async with gate:
                began = time.perf_counter()
                response = await client.get(f"/api/v1/media/{t}")
                each.append(time.perf_counter() - began)
            response.raise_for_status()
            sizes.append(len(response.content))

        start = time.perf_counter()
        await asyncio.gather(*(one(t) for t in tokens))
        wall = time.perf_counter() - start
    each.sort()
    return {
        "details": len(tokens),
        "at_once": at_once,
        "wall_s": wall,
        "per_s": len(tokens) / wall,
        "ms_each_p50": each[len(each) // 2] * 1000,
        "kb_each_mean": sum(sizes) / len(sizes) / 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=200, help="details per sweep step")
    parser.add_argument("--concurrency", type=int, default=4, help="detail_concurrency of ours")
    parser.add_argument("--sweep", default="1,2,4,8")
    args = parser.parse_args()
    url = os.environ.get("WEBQUEUE_BENCH_MEDIACMS_URL", "")
    token = os.environ.get("WEBQUEUE_BENCH_MEDIACMS_TOKEN", "")
    if not (url and token):
        sys.exit("set WEBQUEUE_BENCH_MEDIACMS_URL and WEBQUEUE_BENCH_MEDIACMS_TOKEN (an editor's)")
    record = started_record("mediacms_read", {**vars(args), "url": base_url(url)})

    source = MediaCmsSource(url, TEMPLATE, token=token, detail_concurrency=args.concurrency)
    start = time.perf_counter()
    items = await source.read({}, Report())
    ours_first = time.perf_counter() - start
    known = {i.key: i for i in items}
    start = time.perf_counter()
    again = await source.read(known, Report())
    ours_again = time.perf_counter() - start
    assert len(again) == len(items)

    list_s, tokens, list_bytes = await raw_listing(url, token)
    raw_all = await raw_details(url, token, tokens, args.concurrency)
    sweep = [
        await raw_details(url, token, tokens[: args.sample], int(n)) for n in args.sweep.split(",")
    ]
    n = len(items)
    rows = [
        ["ours: first read (listing + every detail)", n, ours_first, n / ours_first],
        [
            "raw: listing + every detail",
            n,
            list_s + raw_all["wall_s"],
            n / (list_s + raw_all["wall_s"]),
        ],
        ["ours: nothing changed (listing only)", n, ours_again, n / ours_again],
        ["raw: listing only", n, list_s, n / list_s],
    ]
    print(
        table(
            ["read", "items", "seconds", "items/s"],
            rows,
            title=f"Reading {base_url(url)}: {n} items, details {args.concurrency} at a time",
        )
    )
    print(
        table(
            ["details at once", "details", "seconds", "details/s", "p50 ms each", "KB each"],
            [
                [
                    s["at_once"],
                    s["details"],
                    s["wall_s"],
                    s["per_s"],
                    s["ms_each_p50"],
                    s["kb_each_mean"],
                ]
                for s in sweep
            ],
            title="Raw detail fetches (GET /api/v1/media/{token})",
        )
    )
    record.update(
        items=n,
        ours_first_read_s=ours_first,
        ours_unchanged_read_s=ours_again,
        raw_listing_s=list_s,
        raw_listing_kb=list_bytes / 1000,
        raw_all_details=raw_all,
        detail_sweep=sweep,
        load_average_after=load_average(),
    )
    print(f"wrote {write_json('mediacms_read', record)}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
