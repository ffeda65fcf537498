"""Where adapters that watch CyTube (the Kryten robot, the simulator) hand in what they saw."""

from __future__ import annotations

from typing import Protocol

from application.log.intake import Intake
from domain.presence.model import PresenceCommand
from domain.queue.commands import QueueCommand

Observation = QueueCommand | PresenceCommand


class ObservationSink(Protocol):
    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        """Record one observation; `observation_id` makes a redelivered one land only once."""
        ...


class PacedObservations:
    """The ObservationSink for adapters that watch CyTube: each observation is paced by the
    intake, then recorded."""

    def __init__(self, sink: ObservationSink, intake: Intake) -> None:
        self._sink = sink
        self._intake = intake

    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        await self._intake.pace()
        await self._sink.observe(channel, observation, observation_id=observation_id)
