"""Presence refunds: the monitor that cancels a gone payer's pending items after the grace."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

from application.presence.monitor import PresenceMonitor
from entrypoints.wiring.cytube import Cytube
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain


@define
class Presence(Plain):
    monitor: PresenceMonitor

    def background(self) -> Sequence[Background]:
        return (Background("presence-refunds", self.monitor.run),)


def wire_presence(kernel: Kernel, cytube: Cytube) -> Presence:
    monitor = PresenceMonitor(
        kernel.handler,
        kernel.tail,
        cytube.port,
        cytube.observer,
        kernel.clock,
        channels=[kernel.settings.channel],
        config=kernel.settings.presence_refund,
    )
    return Presence(monitor)
