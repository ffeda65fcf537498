"""Promo settings over HTTP: read and change them at runtime.

A PUT changes the fields it names and keeps the others as they are (a partial body once reset
every field it left out to its default, silently).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, put
from litestar.params import JSONBody
from msgspec import Meta

from domain.promos.config import PromoConfig
from domain.promos.kinds import PromoType
from entrypoints.http.auth import IdentityDep
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel


class TypeSettingsBody(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    order: Literal["random", "sequential"] = "random"
    weight: Annotated[float, Meta(ge=0)] = 1.0


class GeneralBody(msgspec.Struct, forbid_unknown_fields=True):
    every_n_items: int = 4
    every_m_minutes: float = 20.0
    no_repeat: bool = True


class PromoConfigBody(msgspec.Struct, forbid_unknown_fields=True):
    """The whole `promos` block (what GET answers)."""

    enabled: bool = True
    movie_threshold_seconds: int = 3600
    general: GeneralBody = msgspec.field(default_factory=GeneralBody)
    types: dict[PromoType, TypeSettingsBody] = msgspec.field(default_factory=dict)


class TypeSettingsPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    order: Literal["random", "sequential"] | msgspec.UnsetType = msgspec.UNSET
    weight: Annotated[float, Meta(ge=0)] | msgspec.UnsetType = msgspec.UNSET


class GeneralPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    every_n_items: int | msgspec.UnsetType = msgspec.UNSET
    every_m_minutes: float | msgspec.UnsetType = msgspec.UNSET
    no_repeat: bool | msgspec.UnsetType = msgspec.UNSET


class PromoConfigPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a PUT may name: any part of the block; what it leaves out stays as it is."""

    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    movie_threshold_seconds: int | msgspec.UnsetType = msgspec.UNSET
    general: GeneralPatch | msgspec.UnsetType = msgspec.UNSET
    types: dict[PromoType, TypeSettingsPatch] | msgspec.UnsetType = msgspec.UNSET


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in change.items():
        old = merged.get(key)
        merged[key] = (
            _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return merged


def _to_domain(current: PromoConfig, patch: PromoConfigPatch) -> PromoConfig:
    plain = _merge(msgspec.to_builtins(current), msgspec.to_builtins(patch))
    return msgspec.convert(plain, PromoConfig)


def _to_body(config: PromoConfig) -> PromoConfigBody:
    return msgspec.convert(msgspec.to_builtins(config), PromoConfigBody)


class PromoController(Controller):
    path = "/api/v1/channels/{channel:str}/promos"
    tags = ["promos"]

    @get("/config", summary="The channel's promo settings (blessed or admin)")
    async def get_config(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> PromoConfigBody:
        await known_channel(services, channel)
        return _to_body(await services.promos.service.config(channel, identity))

    @put(
        "/config",
        summary="Change the promo settings (admin): the fields given; 422 names a bad field",
    )
    async def put_config(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[PromoConfigPatch],
    ) -> PromoConfigBody:
        await known_channel(services, channel)
        service = services.promos.service
        current = await service.config(channel, identity)
        changed = _to_domain(current, data)
        return _to_body(await service.set_config(channel, identity, changed))
