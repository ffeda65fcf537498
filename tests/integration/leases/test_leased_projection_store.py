"""Projections on several instances over one database: only the lease's holder writes rows;
another instance's commit writes nothing and returns once the holder's checkpoint got there, so
"at position N" still means "N's rows are in" on every instance."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.clock import WallClock
from adapters.log.memory_store import InMemoryEventStore
from adapters.sql.projection_store import SqlProjectionStore, sqlite_url
from application.admin.viewer import Admin
from application.identity.roles import Identity
from application.leases.keeper import LeaseKeeper
from application.leases.projection_store import LeasedProjectionStore
from application.projections.ports import Upsert
from application.queue.shadow import QueueShadowProjection
from domain.errors import Rejected
from tests.contract.test_projection_store_contract import channel_row
from tests.unit.leases.memory_store import MemoryLeaseStore

LEASE = "projections:test"


async def two_instances(tmp_path: Path) -> tuple[SqlProjectionStore, list[LeaseKeeper]]:
    """One database and two instances' keepers, started: the first holds the lease."""
    sql = SqlProjectionStore(sqlite_url(tmp_path / "read.db"))
    await sql.prepare()
    leases = MemoryLeaseStore(60.0)
    keepers = [
        LeaseKeeper(leases, holder=f"i{n}", node=f"n{n}", names=[LEASE], clock=WallClock())
        for n in (1, 2)
    ]
    for keeper in keepers:
        await keeper.start()
    return sql, keepers


async def test_only_the_holder_writes_and_the_other_waits_for_its_checkpoint(
    tmp_path: Path,
) -> None:
    sql, keepers = await two_instances(tmp_path)
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


async def test_a_rebuild_runs_only_on_the_writer_and_elsewhere_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    sql, keepers = await two_instances(tmp_path)
    events = InMemoryEventStore()
    boss = Identity("boss", "admin")

    def viewer(keeper: LeaseKeeper) -> Admin:
        shared = LeasedProjectionStore(sql, keeper, LEASE, poll=0.01)
        return Admin(
            events,
            shared,
            lambda: [QueueShadowProjection()],
            WallClock().now,
            lambda e: {},
            writer_elsewhere=shared.writer_elsewhere,
        )

    writer, other = viewer(keepers[0]), viewer(keepers[1])
    try:
        await sql.commit("queue_shadow", 0, 7, [])  # rows written up to 7: a rebuild resets
        with pytest.raises(Rejected) as refused:
            await other.rebuild(boss, "queue_shadow")
        assert refused.value.code == "not_the_writer"
        assert "instance i1 on node n1" in refused.value.message
        assert await sql.checkpoint("queue_shadow") == 7  # the refusal touched nothing

        progress = await writer.rebuild(boss, "queue_shadow")
        for _ in range(200):
            if progress.finished_at is not None:
                break
            await asyncio.sleep(0.01)
        assert progress.finished_at is not None and progress.error is None
        assert await sql.checkpoint("queue_shadow") == 0  # rebuilt over an empty log
    finally:
        await sql.close()
