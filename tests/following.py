"""Taking commits from a follower of the log in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from application.log.ports import StoredCommit


async def positions(follower: AsyncIterator[StoredCommit], n: int) -> list[int]:
    """The positions of the follower's next `n` commits; it stays open for more."""
    got: list[int] = []
    async for stored in follower:
        got.append(stored.position)
        if len(got) == n:
            break
    return got
