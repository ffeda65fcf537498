"""What a request leaves out that the operator's settings fill in (docs/configuration.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from entrypoints.services import Services


def lock_until(services: Services, until: datetime | None) -> datetime | None:
    """A lock set without an end lasts `[lock] default_minutes` (0: until it is lifted)."""
    minutes = services.kernel.settings.lock.default_minutes
    if until is None and minutes > 0:
        return services.kernel.clock.now() + timedelta(minutes=minutes)
    return until
