"""What a capability hands the service: its projections and its background work."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

from attrs import frozen

from application.health import PartHealth
from application.projections.base import Projection
from application.projections.runner import OnChange, OnStored


@frozen
class ProjectionPart:
    """A projection and who hears of its batches: `on_change` before a batch is written (the
    live fan-out), `on_stored` after its transaction (caches of its rows)."""

    projection: Projection
    on_change: OnChange | None = None
    on_stored: OnStored | None = None


@frozen
class Background:
    """A long-running task: `run` is started once the service starts, cancelled at close."""

    name: str
    run: Callable[[], Coroutine[Any, Any, Any]]


class Capability(Protocol):
    def projections(self) -> Sequence[ProjectionPart]: ...

    def background(self) -> Sequence[Background]: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def health(self) -> Mapping[str, PartHealth]:
        """Its parts by name (`pay-flow`, `cytube`, ...): what `/health` shows."""
        ...


class Plain:
    """The defaults for a capability with no projection, background work or shutdown."""

    def projections(self) -> Sequence[ProjectionPart]:
        return ()

    def background(self) -> Sequence[Background]:
        return ()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def health(self) -> Mapping[str, PartHealth]:
        return {}
