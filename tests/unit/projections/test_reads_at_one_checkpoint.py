"""A query's rows and the checkpoint it reports belong to the same moment."""

from __future__ import annotations

from typing import Any

from application.projections.reads import at_one_checkpoint


class MovingCheckpoint:
    """A store whose projection commits `moves` times while the query reads (only what the
    helper touches: the checkpoint)."""

    def __init__(self, moves: int) -> None:
        self.position = 10
        self.moves = moves

    async def checkpoint(self, name: str) -> int:
        return self.position

    def read(self) -> Any:
        async def rows() -> int:
            seen = self.position
            if self.moves:
                self.moves -= 1
                self.position += 1  # a commit lands between the query's statements
            return seen

        return rows


async def test_a_quiet_projection_answers_with_its_checkpoint() -> None:
    store = MovingCheckpoint(moves=0)
    assert await at_one_checkpoint(store, "stats", store.read()) == (10, 10)  # type: ignore[arg-type]


async def test_a_commit_during_the_read_is_read_again_at_the_new_checkpoint() -> None:
    store = MovingCheckpoint(moves=2)
    position, seen = await at_one_checkpoint(store, "stats", store.read())  # type: ignore[arg-type]
    assert (position, seen) == (12, 12)


async def test_a_projection_that_never_rests_reports_what_its_rows_hold_at_least() -> None:
    store = MovingCheckpoint(moves=100)
    position, seen = await at_one_checkpoint(store, "stats", store.read(), tries=3)  # type: ignore[arg-type]
    assert position <= seen  # never claims more than the rows reflect
    assert store.moves == 97  # and gave up after three reads
