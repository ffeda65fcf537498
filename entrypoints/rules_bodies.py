"""The request rules' bodies, shared by HTTP (`entrypoints/http/rules.py`) and NATS
(`get_rules`, `set_rules`): the whole block as read, and a patch naming what it changes."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from application.rules.service import RulesService
from domain.rules.config import RulesConfig
from entrypoints.services import Services

Role = Literal["viewer", "blessed", "admin"]


class BlockedMediaBody(msgspec.Struct, forbid_unknown_fields=True):
    media_type: str
    media_id: str
    reason: str = ""


class BlockedUserBody(msgspec.Struct, forbid_unknown_fields=True):
    user: str
    reason: str = ""


class RulesBody(msgspec.Struct, forbid_unknown_fields=True):
    """The channel's request rules (what GET answers); null turns a limit off."""

    max_pending_per_viewer: int | None = 2
    exempt_roles: list[Role] = msgspec.field(default_factory=list)
    min_length_sec: int = 0
    max_length_sec: int | None = None
    max_viewer_pending_minutes: float | None = None
    max_queue_pending_minutes: float | None = None
    cooldown_minutes: float = 0.0
    no_repeat_hours: float = 0.0
    blocked_media: list[BlockedMediaBody] = msgspec.field(default_factory=list)
    blocked_users: list[BlockedUserBody] = msgspec.field(default_factory=list)
    fair_order: bool = False
    exempt_min_rank: float | None = None


class RulesPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a PUT may name: any field; what it leaves out stays as it is (lists are replaced
    whole)."""

    max_pending_per_viewer: int | msgspec.UnsetType | None = msgspec.UNSET
    exempt_roles: list[Role] | msgspec.UnsetType = msgspec.UNSET
    min_length_sec: int | msgspec.UnsetType = msgspec.UNSET
    max_length_sec: int | msgspec.UnsetType | None = msgspec.UNSET
    max_viewer_pending_minutes: float | msgspec.UnsetType | None = msgspec.UNSET
    max_queue_pending_minutes: float | msgspec.UnsetType | None = msgspec.UNSET
    cooldown_minutes: float | msgspec.UnsetType = msgspec.UNSET
    no_repeat_hours: float | msgspec.UnsetType = msgspec.UNSET
    blocked_media: list[BlockedMediaBody] | msgspec.UnsetType = msgspec.UNSET
    blocked_users: list[BlockedUserBody] | msgspec.UnsetType = msgspec.UNSET
    fair_order: bool | msgspec.UnsetType = msgspec.UNSET
    exempt_min_rank: float | msgspec.UnsetType | None = msgspec.UNSET


def rules_to_domain(current: RulesConfig, patch: RulesPatch) -> RulesConfig:
    plain: dict[str, Any] = msgspec.to_builtins(current)
    for name in patch.__struct_fields__:
        value = getattr(patch, name)
        if value is not msgspec.UNSET:
            plain[name] = msgspec.to_builtins(value)
    return msgspec.convert(plain, RulesConfig)


def rules_to_body(config: RulesConfig) -> RulesBody:
    return msgspec.convert(msgspec.to_builtins(config), RulesBody)


def rules_service(services: Services) -> RulesService:
    if services.rules is None:
        raise RuntimeError("request rules are not wired")
    return services.rules.service
