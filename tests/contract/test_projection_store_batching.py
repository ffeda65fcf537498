"""A batch's writes are coalesced into few statements; the rows must come out exactly as if
every write had been committed on its own, in order."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from application.projections.ports import InsertRows, ReplaceRows, Upsert, Write
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.contract.test_projection_store_contract import channel_row, item

AT = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
TABLES = ("stats_items", "queue_items", "queue_channels", "pay_item_history")


@pytest.fixture(params=["sqlite", "postgresql"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SqlProjectionStore, SqlProjectionStore]]:
    if request.param == "sqlite":
        pair = (
            SqlProjectionStore(sqlite_url(tmp_path / "batched.db")),
            SqlProjectionStore(sqlite_url(tmp_path / "one-by-one.db")),
        )
        for store in pair:
            await store.prepare()
        yield pair
        for store in pair:
            await store.close()
        return
    async with postgres_schema() as one, postgres_schema() as other:
        pair = tuple(
            SqlProjectionStore(
                POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}}
            )
            for schema in (one, other)
        )
        for store in pair:
            await store.prepare()
        yield pair  # type: ignore[misc]
        for store in pair:
            await store.close()


def stats_item(channel: str, n: int, title: str) -> dict[str, Any]:
    return {
        "channel": channel,
        "item_id": f"q{n}",
        "media_type": "yt",
        "media_id": f"m{n}",
        "title": title,
        "duration_sec": n,
        "kind": "content",
    }


def random_writes(rand: random.Random, history: list[int]) -> list[Write]:
    """Writes of every shape the projections emit, on few keys so that they collide."""
    writes: list[Write] = []
    for _ in range(rand.randrange(1, 40)):
        channel = rand.choice(("a", "b", "c"))
        r = rand.random()
        n = rand.randrange(4)
        if r < 0.3:
            writes.append(
                Upsert("stats_items", ("channel", "item_id"), stats_item(channel, n, f"t{r}"))
            )
        elif r < 0.45:
            match = {"channel": channel, "item_id": f"q{n}"}
            rows = [stats_item(channel, n, f"r{r}")] if rand.random() < 0.5 else []
            writes.append(ReplaceRows("stats_items", match, rows))
        elif r < 0.65:
            rows = [item(channel, k) for k in rand.sample(range(6), rand.randrange(4))]
            writes.append(ReplaceRows("queue_items", {"channel": channel}, rows))
        elif r < 0.85:
            row = channel_row(channel, rand.randrange(100))
            row["playing_since"] = AT + timedelta(seconds=rand.randrange(100))
            writes.append(Upsert("queue_channels", ("channel",), row))
        else:
            rows = []
            for seq in range(rand.randrange(3)):
                history.append(len(history) + 1)
                rows.append(
                    {
                        "request_id": f"r{rand.randrange(3)}",
                        "position": history[-1],
                        "seq": seq,
                        "channel": channel,
                        "at": AT,
                        "type": "PayItemRequested",
                        "actor": "ann",
                        "data": "{}",
                    }
                )
            writes.append(InsertRows("pay_item_history", rows))
    return writes


async def snapshot(store: SqlProjectionStore) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for table in TABLES:
        rows = await store.fetch(table)
        out[table] = sorted(rows, key=lambda r: repr(sorted(r.items())))
    return out


async def test_a_coalesced_batch_leaves_the_rows_one_write_at_a_time_would(
    stores: tuple[SqlProjectionStore, SqlProjectionStore],
) -> None:
    batched, one_by_one = stores
    rand = random.Random(2026)
    history: list[int] = []
    single = 0
    for position in range(25):
        writes = random_writes(rand, history)
        await batched.commit("p", position, position + 1, writes)
        for write in writes:
            await one_by_one.commit("p", single, single + 1, [write])
            single += 1
        assert await snapshot(batched) == await snapshot(one_by_one)
    assert sum(len(rows) for rows in (await snapshot(batched)).values()) > 10
