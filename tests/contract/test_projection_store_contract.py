"""The ProjectionStore contract, on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from application.projections.ports import CheckpointMoved, Increment, ReplaceRows, Upsert
from tests.conftest import POSTGRES_URL, postgres_schema

AT = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


def item(channel: str, n: int) -> dict[str, object]:
    return {
        "channel": channel,
        "item_id": f"q{n}",
        "position": n,
        "uid": n,
        "media_type": "yt",
        "media_id": f"m{n}",
        "title": f"Clip ✓ {n}",
        "duration_sec": 60,
        "kind": "content",
        "temp": n % 2 == 0,
        "queued_by": "ann",
        "request_id": None,
        "paid_by": None,
        "tier": None,
        "cost": None,
        "pay_status": None,
        "owner_away_reason": None,
        "owner_away_since": None,
        "cancels_at": None,
        "promo_type": None,
        "lead_in_for": None,
    }


def channel_row(channel: str, position: int) -> dict[str, object]:
    return {
        "channel": channel,
        "now_playing_item_id": "q1",
        "now_playing_uid": 1,
        "playing_since": AT,
        "empty_snapshot_held": False,
        "position": position,
        "lock_label": None,
        "lock_until": None,
        "lock_by": None,
    }


@pytest.fixture(params=["sqlite", "postgresql"])
async def pstore(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SqlProjectionStore]:
    if request.param == "sqlite":
        store = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
        await store.prepare()
        yield store
        await store.close()
        return
    async with postgres_schema() as schema:
        store = SqlProjectionStore(
            POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}}
        )
        await store.prepare()
        yield store
        await store.close()


async def test_a_new_projection_starts_at_zero(pstore: SqlProjectionStore) -> None:
    assert await pstore.checkpoint("queue_shadow") == 0
    assert await pstore.fetch("queue_items") == []


async def test_rows_and_checkpoint_commit_together(pstore: SqlProjectionStore) -> None:
    await pstore.commit(
        "queue_shadow",
        0,
        7,
        [
            ReplaceRows("queue_items", {"channel": "lobby"}, [item("lobby", 1), item("lobby", 2)]),
            Upsert("queue_channels", ("channel",), channel_row("lobby", 7)),
        ],
    )
    assert await pstore.checkpoint("queue_shadow") == 7
    rows = await pstore.fetch("queue_items", {"channel": "lobby"}, order_by=("position",))
    assert rows == [item("lobby", 1), item("lobby", 2)]
    [ch] = await pstore.fetch("queue_channels")
    assert ch["playing_since"] == AT


async def test_replace_and_upsert_overwrite(pstore: SqlProjectionStore) -> None:
    await pstore.commit(
        "p", 0, 1, [ReplaceRows("queue_items", {"channel": "a"}, [item("a", 1), item("a", 2)])]
    )
    await pstore.commit(
        "p",
        1,
        2,
        [
            ReplaceRows("queue_items", {"channel": "a"}, [item("a", 3)]),
            Upsert("queue_channels", ("channel",), channel_row("a", 1)),
            Upsert("queue_channels", ("channel",), channel_row("a", 2)),
        ],
    )
    assert [r["item_id"] for r in await pstore.fetch("queue_items")] == ["q3"]
    assert [r["position"] for r in await pstore.fetch("queue_channels")] == [2]
    assert await pstore.count("queue_items") == 1


async def test_a_moved_checkpoint_refuses_the_batch_and_writes_nothing(
    pstore: SqlProjectionStore,
) -> None:
    await pstore.commit("p", 0, 5, [])
    with pytest.raises(CheckpointMoved) as moved:
        await pstore.commit(
            "p", 3, 9, [ReplaceRows("queue_items", {"channel": "a"}, [item("a", 1)])]
        )
    assert moved.value.actual == 5
    assert await pstore.fetch("queue_items") == []
    assert await pstore.checkpoint("p") == 5


async def test_reset_empties_tables_and_checkpoint(pstore: SqlProjectionStore) -> None:
    await pstore.commit("p", 0, 5, [ReplaceRows("queue_items", {"channel": "a"}, [item("a", 1)])])
    await pstore.record_error("p", "boom")
    assert (await pstore.status("p")).last_error == "boom"
    await pstore.reset("p", ["queue_items", "queue_channels"])
    assert await pstore.checkpoint("p") == 0
    assert await pstore.count("queue_items") == 0
    await pstore.commit("p", 0, 1, [])
    assert (await pstore.status("p")).last_error is None


def media_row(n: int, plays: int, last: datetime, title: str) -> dict[str, object]:
    return {
        "channel": "a",
        "media_type": "yt",
        "media_id": f"m{n}",
        "title": title,
        "duration_sec": 60 + n,
        "plays": plays,
        "last_played": last,
    }


def plays(n: int, count: int, last: datetime, title: str = "Clip") -> Increment:
    key = ("channel", "media_type", "media_id")
    return Increment(
        "stats_media", key, media_row(n, count, last, title), ("plays",), ("last_played",)
    )


@pytest.mark.parametrize("upserts", [True, False], ids=["on-conflict", "update-then-insert"])
async def test_increments_add_keep_the_greatest_and_set_the_rest(
    pstore: SqlProjectionStore, upserts: bool
) -> None:
    pstore._upserts = upserts  # False: the path for a database without ON CONFLICT
    later = AT + timedelta(minutes=5)
    await pstore.commit(
        "p",
        0,
        1,
        [
            plays(1, 2, later, "old title"),
            plays(1, 1, AT, "new title"),  # the same key twice in a batch: both count
            plays(2, 1, AT),
            Increment("stats_counters", ("channel", "metric", "key"), counter(3), ("value",)),
        ],
    )
    await pstore.commit(
        "p",
        1,
        2,
        [
            plays(2, 4, later),
            plays(3, 1, AT),
            Increment("stats_counters", ("channel", "metric", "key"), counter(4), ("value",)),
        ],
    )
    rows = await pstore.fetch("stats_media", order_by=("media_id",))
    assert rows == [
        media_row(1, 3, later, "new title"),
        media_row(2, 5, later, "Clip"),
        media_row(3, 1, AT, "Clip"),
    ]
    assert [r["value"] for r in await pstore.fetch("stats_counters")] == [7]


def counter(value: int) -> dict[str, object]:
    return {"channel": "a", "metric": "items_queued", "key": "", "value": value}
