"""The admin's projections viewer: status, rebuilds, rows and commits of the log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from attrs import define

from adapters.log.codec import Codec
from application.admin.viewer import Admin as AdminViewer
from application.leases.projection_store import LeasedProjectionStore
from application.projections.base import Projection
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Plain


@define
class Admin(Plain):
    viewer: AdminViewer


def _event_json(codec: Codec) -> Callable[[object], dict[str, Any]]:
    def as_json(event: object) -> dict[str, Any]:
        wire = codec.encode_event(event)
        return {"type": wire.type, "v": wire.v, "data": msgspec.json.decode(wire.data)}

    return as_json


def wire_admin(
    kernel: Kernel, shared: LeasedProjectionStore, projections: Callable[[], list[Projection]]
) -> Admin:
    """The viewer reads and rebuilds through the leased store: a rebuild runs only where the
    read models are written, and one deposed meanwhile waits for the new writer's rows."""
    viewer = AdminViewer(
        kernel.log.events,
        shared,
        projections,
        kernel.wall_clock.now,
        _event_json(kernel.log.codec),
        writer_elsewhere=shared.writer_elsewhere,
    )
    return Admin(viewer)
