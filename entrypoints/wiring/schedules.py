"""Scheduled events: the admin service and the firing process manager (in the channel's
configured time zone, `[schedules] time_zone`)."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

from application.schedules.firing import ScheduleFirer
from application.schedules.service import ScheduleService
from application.schedules.status_view import ScheduleStatusView
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain
from entrypoints.wiring.playlists import Playlists


@define
class Schedules(Plain):
    service: ScheduleService
    firer: ScheduleFirer
    #: The viewers' status from memory (the lock banner on every page reads no log).
    view: ScheduleStatusView

    def background(self) -> Sequence[Background]:
        return (
            Background("schedule-firer", self.firer.run),
            Background("schedule-status-view", self.view.run),
        )


def wire_schedules(kernel: Kernel, playlists: Playlists) -> Schedules:
    config = kernel.settings.schedules
    service = ScheduleService(
        kernel.handler, playlists.service, kernel.clock, config=config, tz=config.zone
    )
    firer = ScheduleFirer(
        kernel.handler,
        kernel.clock,
        service,
        playlists.applier,
        channels=[kernel.settings.channel],
    )
    view = ScheduleStatusView(
        kernel.handler, kernel.tail, service, channels=[kernel.settings.channel]
    )
    return Schedules(service, firer, view)
