"""Projections on several instances over one database: only the lease's holder writes rows;
another instance's commit writes nothing and returns once the holder's checkpoint got there, so
"at position N" still means "N's rows are in" on every instance."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.clock import WallClock
from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from application.leases.keeper import LeaseKeeper
from application.leases.projection_store import LeasedProjectionStore
from application.projections.ports import Upsert
from tests.contract.test_projection_store_contract import channel_row
from tests.unit.leases.memory_store import MemoryLeaseStore

LEASE = "projections:test"


async def test_only_the_holder_writes_and_the_other_waits_for_its_checkpoint(
    tmp_path: Path,
) -> None:
    sql = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
    await sql.prepare()
    leases = MemoryLeaseStore(60.0)
    keepers = [
        LeaseKeeper(leases, holder=f"i{n}", node=f"n{n}", names=[LEASE], clock=WallClock())
        for n in (1, 2)
    ]
    for keeper in keepers:
        await keeper.start()
    holder, other = (LeasedProjectionStore(sql, k, LEASE, poll=0.01) for k in keepers)
    try:
        assert keepers[0].held(LEASE) and not keepers[1].held(LEASE)
        theirs = [Upsert("queue_channels", ("channel",), channel_row("other", 5))]
        waiting = asyncio.create_task(other.commit("queue_shadow", 0, 5, theirs))
        await asyncio.sleep(0.2)  # not a timing bet: it must wait however long this is
        assert not waiting.done()
        assert await sql.checkpoint("queue_shadow") == 0

        mine = [Upsert("queue_channels", ("channel",), channel_row("lobby", 5))]
        await holder.commit("queue_shadow", 0, 5, mine)
        await asyncio.wait_for(waiting, 10)
        rows = await sql.fetch("queue_channels")
        assert [r["channel"] for r in rows] == ["lobby"]  # the other instance wrote nothing
        assert await sql.checkpoint("queue_shadow") == 5

        await other.record_error("queue_shadow", "not mine to record")
        assert (await sql.status("queue_shadow")).last_error is None
    finally:
        await sql.close()
