"""Back pressure: work from outside waits while the process's followers digest a backlog.

Commands are accepted faster than projections and process managers can follow them. Without a
limit, a flood of commands builds a backlog that makes every live view stale and, worse, once
made the server cut the connection off (docs/performance.md). So a new command first waits until
the slowest follower is at most `max_lag` commits behind; if that takes longer than `wait_sec`,
a command is refused as busy (nothing was changed, the client retries). An observation of
CyTube is a fact that must be recorded, so it waits the same but is then recorded regardless.

Process managers are followers themselves and never pass through here: holding them back would
hold back the very thing everyone is waiting for.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from attrs import frozen


class Busy(Exception):
    """The service is behind with what it already accepted; nothing was changed."""

    code = "busy"
    message = "The service is catching up with a burst of work; nothing was changed, try again."


class Lag(Protocol):
    def lag(self) -> int: ...

    async def lag_at_most(self, limit: int) -> None: ...


@frozen
class IntakeConfig:
    max_lag: int = 2_000  # commits; at the followers' few thousand a second, well under 1 s
    wait_sec: float = 2.0


class Intake:
    def __init__(self, lag: Lag, config: IntakeConfig | None = None) -> None:
        self._lag = lag
        self.config = config or IntakeConfig()
        self.refused = 0
        self.waited = 0

    async def admit(self) -> None:
        """Return when a command may go ahead; raises Busy when the backlog did not clear."""
        if not await self._caught_up():
            self.refused += 1
            raise Busy(Busy.message)

    async def pace(self) -> None:
        """Return when the backlog allows, or after `wait_sec` in any case."""
        await self._caught_up()

    async def _caught_up(self) -> bool:
        if self._lag.lag() <= self.config.max_lag:
            return True
        self.waited += 1
        try:
            async with asyncio.timeout(self.config.wait_sec):
                await self._lag.lag_at_most(self.config.max_lag)
        except TimeoutError:
            return False
        return True
