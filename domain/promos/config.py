"""The channel's promo settings: an aggregate of its own, so every change is an event.

Validation names the field it refuses (`general.every_n_items`), for a 422 a person can act on.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from attrs import evolve as replace
from attrs import field, frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.promos.kinds import GENERAL_TYPES, PROMO_TYPES, PromoType

Order = Literal["random", "sequential"]


class InvalidSetting(Rejected):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__("invalid_config", f"{field_name}: {message}")
        self.field = field_name


@frozen
class TypeSettings:
    enabled: bool = True
    order: Order = "random"
    weight: float = 1.0


@frozen
class GeneralCadence:
    every_n_items: int = 4
    every_m_minutes: float = 20.0
    no_repeat: bool = True


def _default_types() -> dict[PromoType, TypeSettings]:
    return {
        "channel_identity": TypeSettings(weight=3),
        "event": TypeSettings(weight=2),
        "mod_shoutout": TypeSettings(order="sequential", weight=1),
        "feature_presentation": TypeSettings(),
        "viewers_choice": TypeSettings(),
    }


@frozen
class PromoConfig:
    enabled: bool = True
    movie_threshold_seconds: int = 3600
    general: GeneralCadence = GeneralCadence()
    types: dict[PromoType, TypeSettings] = field(factory=_default_types)

    def type(self, promo_type: PromoType) -> TypeSettings:
        return self.types.get(promo_type, TypeSettings(enabled=False))


def validate(config: PromoConfig) -> None:
    if not 1 <= config.movie_threshold_seconds <= 24 * 3600:
        raise InvalidSetting("movie_threshold_seconds", "must be 1 to 86400 seconds")
    if not 1 <= config.general.every_n_items <= 1000:
        raise InvalidSetting("general.every_n_items", "must be 1 to 1000")
    if not 0 < config.general.every_m_minutes <= 24 * 60:
        raise InvalidSetting("general.every_m_minutes", "must be above 0 and at most 1440")
    for name, settings in config.types.items():
        if name not in PROMO_TYPES:
            raise InvalidSetting(f"types.{name}", f"unknown promo type; known: {PROMO_TYPES}")
        if not 0 <= settings.weight <= 1000:
            raise InvalidSetting(f"types.{name}.weight", "must be 0 to 1000")
    general = [config.type(t) for t in GENERAL_TYPES]
    if any(s.enabled for s in general) and not any(s.enabled and s.weight > 0 for s in general):
        raise InvalidSetting("types", "an enabled general type needs a weight above 0")


@frozen
class SetPromoConfig:
    config: PromoConfig
    by: str


@frozen
class PromoConfigChanged:
    VERSION: ClassVar[int] = 1
    config: PromoConfig
    by: str


PROMO_CONFIG_EVENTS: tuple[type, ...] = (PromoConfigChanged,)


@frozen
class PromoConfigState:
    """`changed`: an admin has set the channel's settings; until then the operator's defaults
    (the config file's `[promos]`) apply."""

    channel: str
    config: PromoConfig = PromoConfig()
    changed: bool = False

    def effective(self, defaults: PromoConfig) -> PromoConfig:
        return self.config if self.changed else defaults


def _decide(
    state: PromoConfigState, command: SetPromoConfig, ctx: Context
) -> tuple[PromoConfigChanged, ...]:
    validate(command.config)
    if state.changed and command.config == state.config:
        return ()
    return (PromoConfigChanged(command.config, command.by),)


def _evolve(state: PromoConfigState, event: PromoConfigChanged) -> PromoConfigState:
    return replace(state, config=event.config, changed=True)


promo_config_decider: Decider[PromoConfigState, SetPromoConfig, PromoConfigChanged] = Decider(
    aggregate="promo_config",
    initial=lambda channel: PromoConfigState(channel),
    decide=_decide,
    evolve=_evolve,
)
