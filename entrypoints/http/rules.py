"""Request rules over HTTP: read them, change them (in effect on the next purchase), and check a
change without making it (the admin page's live validation).

A PUT changes the fields it names and keeps the others as they are; a 422 names the bad field.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Controller, get, post, put
from litestar.params import JSONBody

from application.identity.roles import require
from application.rules.service import RulesService
from domain.rules.config import RulesConfig, validate
from entrypoints.http.auth import IdentityDep
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel
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


def rules_to_domain(current: RulesConfig, patch: RulesPatch) -> RulesConfig:
    plain: dict[str, Any] = msgspec.to_builtins(current)
    for name in patch.__struct_fields__:
        value = getattr(patch, name)
        if value is not msgspec.UNSET:
            plain[name] = msgspec.to_builtins(value)
    return msgspec.convert(plain, RulesConfig)


def rules_to_body(config: RulesConfig) -> RulesBody:
    return msgspec.convert(msgspec.to_builtins(config), RulesBody)


async def rules_service(services: Services, channel: str) -> RulesService:
    await known_channel(services, channel)
    if services.rules is None:
        raise RuntimeError("request rules are not wired")
    return services.rules.service


class RulesController(Controller):
    path = "/api/v1/channels/{channel:str}/rules"
    tags = ["rules"]

    @get("", summary="The channel's request rules (anyone signed in)")
    async def get_rules(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> RulesBody:
        service = await rules_service(services, channel)
        return rules_to_body(await service.config(channel, identity))

    @put(
        "",
        summary="Change the request rules (admin): the fields given, in effect at once; 422 "
        "names a bad field",
    )
    async def put_rules(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[RulesPatch],
    ) -> RulesBody:
        service = await rules_service(services, channel)
        require(identity, "admin")
        changed = rules_to_domain(await service.config(channel, identity), data)
        return rules_to_body(await service.set_config(channel, identity, changed))

    @post(
        "/check",
        status_code=200,
        summary="Check a change without making it (admin): the rules it would give, or 422",
    )
    async def check_rules(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[RulesPatch],
    ) -> RulesBody:
        service = await rules_service(services, channel)
        require(identity, "admin")
        changed = rules_to_domain(await service.config(channel, identity), data)
        validate(changed)  # InvalidSetting: 422 naming the field
        return rules_to_body(changed)
