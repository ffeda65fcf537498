"""The five kinds of promo, shared by playlists (pools) and the promo director."""

from __future__ import annotations

from typing import Literal, get_args

PromoType = Literal[
    "channel_identity", "event", "mod_shoutout", "feature_presentation", "viewers_choice"
]
PROMO_TYPES: tuple[PromoType, ...] = get_args(PromoType)
GENERAL_TYPES: tuple[PromoType, ...] = ("channel_identity", "event", "mod_shoutout")
LEAD_IN_TYPES: tuple[PromoType, ...] = ("feature_presentation", "viewers_choice")
