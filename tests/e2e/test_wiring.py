"""The composition root: what `webqueue rebuild` rebuilds is what the running service
projects, so a capability whose projection is wired in one place but not the other (a rebuild
that silently skips a read model, or one nobody keeps current) fails here."""

from __future__ import annotations

from entrypoints.bootstrap import projections
from tests.e2e.conftest import Running


async def test_the_rebuild_list_is_the_running_projections(service: Running) -> None:
    running = sorted(runner.projection.name for runner in service.services.runners)
    assert running == sorted(p.name for p in projections())
    assert {"queue_shadow", "stats", "playlists", "likes", "catalog"} <= set(running)


async def test_every_wired_capability_starts_and_reports(service: Running) -> None:
    services = service.services
    assert services.rules is not None and services.schedules is not None
    capabilities = services.capabilities
    for wired in (services.rules, services.schedules, services.catalog, services.pay):
        assert wired in capabilities
    assert len(set(map(id, capabilities))) == len(capabilities)
