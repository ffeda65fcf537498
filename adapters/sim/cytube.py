"""The CyTube port over simulated channels, with fault injection for the pay flow's tests.

Commands go straight to the `SimulatedChannel` of the channel named, which reports what
happened to its sink exactly as the robot's events would. The knobs below (all off by default)
make the next calls fail the ways the robot and CyTube fail; each counts down over calls to any
channel, and `unavailable` is checked before anything else.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime

from attrs import frozen

from adapters.sim.browsers import DemoBrowsers
from adapters.sim.channel import TRANSIENT_FAILURE, QueueFail, SimulatedChannel
from application.cytube.port import (
    AddOutcome,
    AddPosition,
    After,
    CytubeUnavailable,
    PlaylistRead,
)
from domain.media import Media
from domain.presence.model import ObservedUser
from domain.queue.commands import ObservedItem


@frozen
class SimPm:
    channel: str
    to: str
    message: str
    at: datetime
    delivered: bool


PERMANENT_FAILURE = "Channel limit exceeded: maximum number of videos per user"
"""A real CyTube queueFail message that retrying does not cure."""


class SimCytube:
    """`Cytube` over a mapping of channel name -> simulated channel.

    `sent_pms` records every PM as (channel, to, message); the simulator has no chat.
    `pms` keeps the newest PMs with whether they reached anyone: like CyTube, a PM reaches only
    a user who is in the channel (the demo page shows them, so the embedded default can be
    signed into). `browsers` says which browser demo-joined which name: the demo page shows a
    browser the PMs of its own names only.
    """

    def __init__(
        self,
        channels: Mapping[str, SimulatedChannel],
        *,
        queued_by: str = "",
        browsers: DemoBrowsers | None = None,
    ) -> None:
        self._channels = channels
        self._queued_by = queued_by
        self.browsers = browsers if browsers is not None else DemoBrowsers()
        self.sent_pms: list[tuple[str, str, str]] = []
        self.pms: deque[SimPm] = deque(maxlen=200)
        self._unavailable = 0
        self._fail_adds = 0
        self._fail_transient = True
        self._fail_error: str | None = None
        self._adds_without_uid = 0
        self._lost_adds = 0
        self._dropped_moves = 0

    # ---- fault injection ---------------------------------------------------------------------

    def unavailable(self, n: int) -> None:
        """The next `n` calls of any kind raise CytubeUnavailable before doing anything."""
        self._unavailable = max(0, n)

    def fail_adds(self, n: int, transient: bool = True, error: str | None = None) -> None:
        """The next `n` adds come back as a queueFail (nothing is added)."""
        self._fail_adds = max(0, n)
        self._fail_transient = transient
        self._fail_error = error

    def add_without_uid(self, n: int) -> None:
        """The next `n` adds happen, but the reply has no uid (the robot's 8 s timeout)."""
        self._adds_without_uid = max(0, n)

    def lose_after_add(self, n: int) -> None:
        """The next `n` adds happen, then the call raises CytubeUnavailable: unknown outcome."""
        self._lost_adds = max(0, n)

    def drop_moves(self, n: int) -> None:
        """The next `n` moves are accepted but not done (a failed CyTube move is silent)."""
        self._dropped_moves = max(0, n)

    # ---- the port ----------------------------------------------------------------------------

    async def add(self, channel: str, media: Media, pos: AddPosition, temp: bool) -> AddOutcome:
        sim = self._channel(channel)
        if self._fail_adds > 0:
            self._fail_adds -= 1
            default = TRANSIENT_FAILURE if self._fail_transient else PERMANENT_FAILURE
            return AddOutcome(
                ok=False, error=self._fail_error or default, transient=self._fail_transient
            )
        try:
            uid = await sim.add(media, pos, temp, self._queued_by)
        except QueueFail as fail:
            return AddOutcome(ok=False, error=fail.msg, transient=fail.transient)
        if self._lost_adds > 0:
            self._lost_adds -= 1
            raise CytubeUnavailable(f"{channel}: no reply to addvideo (the add did happen)")
        if self._adds_without_uid > 0:
            self._adds_without_uid -= 1
            return AddOutcome(ok=True, uid=None)
        return AddOutcome(ok=True, uid=uid)

    async def delete(self, channel: str, uid: int) -> None:
        await self._channel(channel).delete(uid)

    async def move(self, channel: str, uid: int, after: After) -> None:
        sim = self._channel(channel)
        if self._dropped_moves > 0:
            self._dropped_moves -= 1
            return
        await sim.move(uid, after)

    async def playlist(self, channel: str) -> tuple[ObservedItem, ...] | None:
        return self._channel(channel).playlist()

    async def read(self, channel: str) -> PlaylistRead:
        """The simulator is the channel: its empty list is never a failed read."""
        sim = self._channel(channel)
        return PlaylistRead(sim.playlist(), sim.current_uid, empty_confirmed=True)

    async def user(self, channel: str, name: str) -> ObservedUser | None:
        return self._channel(channel).user(name)

    async def pm(self, channel: str, to: str, message: str) -> None:
        sim = self._channel(channel)
        self.sent_pms.append((channel, to, message))
        delivered = sim.user(to) is not None
        self.pms.append(SimPm(channel, to, message, sim.clock_now(), delivered))

    def pms_to(self, channel: str, to: str) -> list[SimPm]:
        """The PMs sent to `to` on `channel`, newest first."""
        return [
            p for p in reversed(self.pms) if p.channel == channel and p.to.lower() == to.lower()
        ]

    def _channel(self, channel: str) -> SimulatedChannel:
        """Spend one `unavailable` first; an unknown channel is one no robot answers for."""
        if self._unavailable > 0:
            self._unavailable -= 1
            raise CytubeUnavailable(f"{channel}: CyTube is unavailable (injected)")
        sim = self._channels.get(channel)
        if sim is None:
            raise CytubeUnavailable(f"no simulated channel {channel!r}")
        return sim
