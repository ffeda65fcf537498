"""What leases are kept in: a store of entries with revisions and a time to live."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from attrs import frozen


@frozen
class Holding:
    """What a holder writes into its lease: who it is and since when it holds it."""

    holder: str  # the instance id: host, pid and a random part (one per process)
    node: str  # the same across restarts of one service on one data dir (host + data dir)
    acquired_at: datetime
    renewed_at: datetime


@frozen
class LeaseEntry:
    name: str  # "channel:lobby", "projections:<db>"
    holding: Holding
    revision: int


class LeaseStore(Protocol):
    """Entries that vanish `ttl_sec` after their last write unless written again."""

    @property
    def ttl_sec(self) -> float: ...

    async def read(self, name: str) -> LeaseEntry | None: ...

    async def create(self, name: str, holding: Holding) -> int | None:
        """Write the entry only if there is none (or it lapsed); its revision, else None."""
        ...

    async def update(self, name: str, holding: Holding, revision: int) -> int | None:
        """Write it only if its revision is still `revision`; the new revision, else None."""
        ...

    async def delete(self, name: str, revision: int) -> None:
        """Remove it if it is still at `revision` (a release); nothing if it moved on."""
        ...

    async def entries(self) -> list[LeaseEntry]:
        """Every lease held now, for /health and the admin viewer."""
        ...
