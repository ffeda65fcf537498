"""How a part of the service says whether it works: the log, each projection, each background
task, each peer (CyTube, the economy). `/health` gathers them, so a stalled part is seen."""

from __future__ import annotations

from typing import Literal

from attrs import frozen

Status = Literal["ok", "degraded", "down"]


@frozen
class PartHealth:
    """`detail` says in words what is wrong (and since when), for the person reading it."""

    status: Status
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"
