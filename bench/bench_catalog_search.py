"""Catalog search benchmark: p50/p95 of title queries over 5,000 and 100,000 items, on SQLite
(FTS5 trigram) and PostgreSQL (pg_trgm), next to the same query done by a bare SQL LIKE scan
over the same rows in the same run.

The items are written the way the service writes them (the catalog projection folding
`ItemsIndexed` batches into the read model, FTS triggers and the trigram index included). Titles
are drawn from a vocabulary of film words, a quarter of them episodes (`Show S01E04`). The
queries are what people type: one word or part of one (3 to 8 characters), two words, an
episode code, a word that matches nothing. Each query is timed as the API runs it
(`SqlCatalogIndex.search`: the count and the first page of 24 by relevance); the raw figure runs
the same two statements with `title_norm LIKE '%q%'` and no index, as driver SQL.

Targets (issue 16): p95 <= 5 ms at 5,000 items, <= 25 ms at 100,000.

    python bench/bench_catalog_search.py                        # both sizes, both databases
    python bench/bench_catalog_search.py --sizes 5000 --queries 200 --no-postgres
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import percentile, started_record, summary, table, write_json  # noqa: E402
from sqlalchemy import text  # noqa: E402

from adapters.sql.catalog_index import SqlCatalogIndex  # noqa: E402
from adapters.sql.projection_store import SqlProjectionStore, sqlite_url  # noqa: E402
from application.catalog.ports import SearchQuery  # noqa: E402
from application.catalog.projection import CatalogProjection  # noqa: E402
from application.log.ports import Commit, StoredCommit, StreamId  # noqa: E402
from domain.catalog.diff import SnapshotDiff  # noqa: E402
from domain.catalog.items import make_item  # noqa: E402
from domain.catalog.model import ItemsIndexed, RefreshCompleted, RefreshStarted  # noqa: E402
from domain.catalog.text import fold  # noqa: E402

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
WORDS = (  # noqa: SIM905 (a sentence of words reads better than a list of strings)
    "night living dead house haunted terror brain killer shrews blood skull hands fate bat "
    "zombie dementia carnival souls moon outer space saucer planet robot rocket queen mars "
    "stranger scarlet street detour impact quicksand fear woman run train robbery angel "
    "badman dragon fist kung fu shaolin ninja sword jazz blues swing rhapsody symphony cafe "
    "society trailer reel previews drive-in lobby grindhouse häxan vampyr caligari manoir "
    "diable général amélie zéro conduite vacances hulot metropolis voyage impossible aelita "
    "lost city empire golden silver iron crimson shadow phantom return revenge curse island "
    "jungle desert river mountain valley castle tower tomb mummy werewolf creature lagoon"
).split()
SHOWS = ("The Cisco Kid", "Flash Gordon", "Captain Video", "One Step Beyond", "Lone Ranger")
TEMPLATE = "https://media.example/api/v1/media/cytube/{video_id}.json?format=json"
CHANNEL = "bench"


def titles(n: int, rnd: random.Random) -> list[str]:
    out = []
    for i in range(n):
        if i % 4 == 3:
            show = rnd.choice(SHOWS)
            out.append(f"{show} S{rnd.randint(1, 12):02d}E{rnd.randint(1, 26):02d}")
        else:
            words = rnd.sample(WORDS, rnd.randint(2, 5))
            out.append(" ".join(w.capitalize() for w in words) + f" ({1920 + i % 80})")
    return out


def queries(all_titles: list[str], count: int, rnd: random.Random) -> list[str]:
    found = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            found.append(rnd.choice(WORDS))
        elif kind == 1:
            word = fold(rnd.choice(WORDS))
            size = rnd.randint(3, min(8, max(3, len(word))))
            start = rnd.randint(0, max(0, len(word) - size))
            found.append(word[start : start + size])
        elif kind == 2:
            found.append(" ".join(rnd.sample(WORDS, 2)))
        elif kind == 3:
            found.append(f"s{rnd.randint(1, 12):02d}e{rnd.randint(1, 26):02d}")
        else:
            found.append(rnd.choice(["zzqx", "nothingmatches", "qwv"]))
    return found


async def fill(store: SqlProjectionStore, all_titles: list[str]) -> float:
    """Writes the items as the service does: the projection folding batches of 500."""
    projection = CatalogProjection()
    stream = StreamId(CHANNEL, "catalog", CHANNEL)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    position = 0
    started = time.perf_counter()

    async def commit(*events: Any) -> None:
        nonlocal position
        position += 1
        projection.apply(
            StoredCommit(position, Commit(f"c{position}", stream, position, at, "bench", events))
        )
        writes, _ = projection.flush()
        await store.commit("catalog", position - 1, position, writes)

    await commit(RefreshStarted("snap", "bench", "bench", "bench", at))
    for batch_no, start in enumerate(range(0, len(all_titles), 500)):
        items = tuple(
            make_item(
                video_id=f"v{start + i:07d}",
                title=title,
                ordinal=start + i,
                manifest_template=TEMPLATE,
                categories=(WORDS[(start + i) % 7].capitalize(),),
                duration_sec=600 + (start + i) % 5000,
            )
            for i, title in enumerate(all_titles[start : start + 500])
        )
        await commit(ItemsIndexed("snap", batch_no, items, at))
    await commit(RefreshCompleted("snap", len(all_titles), len(all_titles), SnapshotDiff(), (), at))
    return time.perf_counter() - started


async def raw_like(index: SqlCatalogIndex, query: str) -> None:
    """The same count and first page with a bare LIKE scan (one pattern per word), through the
    same connection path as the index's own reads: only the SQL differs."""
    words = fold(query).split()
    args: dict[str, Any] = {"c": CHANNEL, "s": "snap"} | {
        f"w{n}": f"%{w}%" for n, w in enumerate(words)
    }
    # (title_norm || '') so that PostgreSQL cannot use the trigram index: a scan, as SQLite's
    where = "channel = :c AND snapshot_id = :s" + "".join(
        f" AND (title_norm || '') LIKE :w{n}" for n in range(len(words))
    )
    count = text(f"SELECT count(*) FROM catalog_items WHERE {where}")
    first = text(f"SELECT * FROM catalog_items WHERE {where} ORDER BY title_norm || '' LIMIT 24")

    def run(conn: Any) -> None:
        conn.execute(count, args).scalar_one()
        conn.execute(first, args).all()

    await index._read(run)


def stats(values_ms: list[float]) -> dict[str, float]:
    return {**summary(values_ms), "p95": percentile(sorted(values_ms), 95)}


async def measure(url: str, size: int, n_queries: int, seed: int, **engine: Any) -> dict[str, Any]:
    rnd = random.Random(seed)
    store = SqlProjectionStore(url, **engine)
    try:
        await store.prepare()
        index = SqlCatalogIndex(store.engine)
        await index.prepare()
        all_titles = titles(size, rnd)
        took = await fill(store, all_titles)
        asked = queries(all_titles, n_queries, rnd)
        if store.engine.dialect.name == "postgresql":
            async with store.engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE catalog_items")
        ours: list[float] = []
        raw: list[float] = []
        hits = 0
        for q in asked[: min(20, len(asked))]:  # warm both paths
            await index.search(SearchQuery(CHANNEL, text=q))
            await raw_like(index, q)
        for q in asked:
            t = time.perf_counter()
            page = await index.search(SearchQuery(CHANNEL, text=q))
            ours.append((time.perf_counter() - t) * 1000)
            hits += page.total
            t = time.perf_counter()
            await raw_like(index, q)
            raw.append((time.perf_counter() - t) * 1000)
        return {
            "items": size,
            "fill_sec": round(took, 2),
            "queries": len(asked),
            "mean_hits": hits / len(asked),
            "trigram_index": index.trigram_index,
            "ours_ms": stats(ours),
            "like_scan_ms": stats(raw),
        }
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 100_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=POSTGRES)
    args = parser.parse_args()
    record = started_record("catalog_search", vars(args))
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            url = sqlite_url(Path(tmp) / f"read-{size}.db")
            runs.append({"database": "sqlite", **await measure(url, size, args.queries, args.seed)})
            print(f"sqlite {size}: done", file=sys.stderr)
    if not args.no_postgres:
        import asyncpg

        dsn = args.postgres_url.replace("postgresql+asyncpg://", "postgresql://")
        for size in args.sizes:
            schema = f"wq_bench_{uuid.uuid4().hex[:8]}"
            conn = await asyncpg.connect(dsn)
            await conn.execute(f"CREATE SCHEMA {schema}")
            try:
                result = await measure(
                    args.postgres_url,
                    size,
                    args.queries,
                    args.seed,
                    connect_args={"server_settings": {"search_path": f"{schema},public"}},
                )
                runs.append({"database": "postgresql", **result})
                print(f"postgresql {size}: done", file=sys.stderr)
            finally:
                await conn.execute(f"DROP SCHEMA {schema} CASCADE")
                await conn.close()
    rows = []
    for r in runs:
        target = 5.0 if r["items"] <= 5_000 else 25.0
        ours, raw = r["ours_ms"], r["like_scan_ms"]
        rows.append(
            [
                r["database"],
                r["items"],
                r["queries"],
                ours["p50"],
                ours["p90"],
                _p95(r, "ours_ms"),
                raw["p50"],
                _p95(r, "like_scan_ms"),
                target,
                "yes" if _p95(r, "ours_ms") <= target else "NO",
            ]
        )
    print(
        table(
            [
                "database",
                "items",
                "queries",
                "p50 ms",
                "p90 ms",
                "p95 ms",
                "LIKE p50",
                "LIKE p95",
                "target p95",
                "met",
            ],
            rows,
            title="Catalog title search: ours (count + first page, by relevance) vs a LIKE scan",
        )
    )
    record["runs"] = runs
    path = write_json("catalog_search", record)
    print(f"wrote {path}", file=sys.stderr)


def _p95(run: dict[str, Any], key: str) -> float:
    return float(run[key]["p95"])


if __name__ == "__main__":
    asyncio.run(main())
