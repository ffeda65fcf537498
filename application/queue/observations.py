"""Where adapters that watch CyTube (the Kryten robot, the simulator) hand in what they saw."""

from __future__ import annotations

from typing import Protocol

from domain.presence.model import PresenceCommand
from domain.queue.commands import QueueCommand

Observation = QueueCommand | PresenceCommand


class ObservationSink(Protocol):
    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        """Record one observation; `observation_id` makes a redelivered one land only once."""
        ...
