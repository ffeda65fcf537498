"""The shape of a projection: a fold over commits that yields row writes in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from application.log.ports import StoredCommit
from application.projections.ports import ProjectionStore, Write


class Projection(Protocol):
    name: str
    tables: tuple[str, ...]

    async def warm(self, store: ProjectionStore) -> None:
        """Load what the fold needs from the rows already written (after a restart)."""
        ...

    def forget(self) -> None:
        """Drop in-memory state: the rows were reset or moved under us."""
        ...

    def apply(self, stored: StoredCommit) -> None: ...

    def flush(self) -> tuple[Sequence[Write], set[str]]:
        """The writes for everything applied since the last flush, and the channels touched."""
        ...
