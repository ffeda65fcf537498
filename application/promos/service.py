"""Promo settings as admins read and change them (a change is an event)."""

from __future__ import annotations

from application.identity.roles import Identity, require
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import promo_config_stream
from domain.promos.config import PromoConfig, PromoConfigState, SetPromoConfig, promo_config_decider


class PromoService:
    def __init__(self, handler: CommandHandler, *, defaults: PromoConfig | None = None) -> None:
        self._handler = handler
        self.defaults = defaults or PromoConfig()

    async def config(self, channel: str, who: Identity) -> PromoConfig:
        """The channel's settings: an admin's last change, else the operator's defaults."""
        require(who, "blessed")
        state: PromoConfigState = await self._handler.state(
            promo_config_decider, promo_config_stream(channel)
        )
        return state.effective(self.defaults)

    async def set_config(self, channel: str, who: Identity, config: PromoConfig) -> PromoConfig:
        """Raises InvalidSetting (a Rejected naming the field) for a setting out of range."""
        require(who, "admin")
        await self._handler.handle(
            promo_config_decider,
            promo_config_stream(channel),
            SetPromoConfig(config, who.user),
            CommandMeta.new(who.user),
        )
        return config
