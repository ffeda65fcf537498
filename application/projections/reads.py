"""Reading a read model as of one checkpoint, without locking out its writer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from application.projections.ports import ProjectionStore

T = TypeVar("T")

TRIES = 5


async def at_one_checkpoint(
    store: ProjectionStore, name: str, read: Callable[[], Awaitable[T]], tries: int = TRIES
) -> tuple[int, T]:
    """`read()`'s result with the checkpoint of projection `name` it reflects.

    A query reads its rows in several statements and the projection may commit between them,
    so a checkpoint read before them could understate and one read after could overstate what
    the rows hold (a CI run saw stats answer "played 1" with a position before the play). The
    read is kept when the checkpoint did not move across it; after `tries` reads that each saw
    a commit (a projection busy folding), the last is kept with the checkpoint from before it,
    which its rows reflect at least."""
    after = await store.checkpoint(name)
    for _ in range(max(1, tries)):
        before = after
        result = await read()
        after = await store.checkpoint(name)
        if after == before:
            break
    return before, result
