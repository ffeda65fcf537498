"""Request rules: the settings service, plugged into pay's decision (its `RequestRules` port)."""

from __future__ import annotations

from datetime import UTC, datetime

from attrs import define

from application.rules.service import RulesService
from application.stats.projection import MEDIA
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Plain
from entrypoints.wiring.pay import Pay


@define
class Rules(Plain):
    service: RulesService


def wire_rules(kernel: Kernel, pay: Pay) -> Rules:
    async def last_played(channel: str, key: tuple[str, str]) -> datetime | None:
        rows = await kernel.read_models.fetch(
            MEDIA, {"channel": channel, "media_type": key[0], "media_id": key[1]}
        )
        value = rows[0]["last_played"] if rows else None
        if not isinstance(value, datetime):
            return None
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    service = RulesService(kernel.handler, defaults=kernel.settings.rules, last_played=last_played)
    pay.service.plug_rules(service)
    return Rules(service)
