"""Promo settings over HTTP: read and replace them at runtime."""

from __future__ import annotations

from typing import Annotated, Literal

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
    """The whole `promos` block; a type left out keeps its default settings."""

    enabled: bool = True
    movie_threshold_seconds: int = 3600
    general: GeneralBody = msgspec.field(default_factory=GeneralBody)
    types: dict[PromoType, TypeSettingsBody] = msgspec.field(default_factory=dict)


def _to_domain(body: PromoConfigBody) -> PromoConfig:
    plain = msgspec.to_builtins(body)
    plain["types"] = {**msgspec.to_builtins(PromoConfig().types), **plain["types"]}
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

    @put("/config", summary="Replace the promo settings (admin); 422 names a bad field")
    async def put_config(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[PromoConfigBody],
    ) -> PromoConfigBody:
        await known_channel(services, channel)
        return _to_body(
            await services.promos.service.set_config(channel, identity, _to_domain(data))
        )
