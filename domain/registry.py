"""Every event type the log may hold, by name: the codec's single source of truth."""

from __future__ import annotations

from domain.catalog.model import CATALOG_EVENTS
from domain.identity.access import ACCESS_EVENTS
from domain.identity.blessed import BLESSED_EVENTS
from domain.identity.ip_blocks import IP_BLOCK_EVENTS
from domain.identity.otp import OTP_EVENTS
from domain.likes.model import LIKE_EVENTS
from domain.likes.rules import LIKE_RULES_EVENTS
from domain.playlists.apply import APPLY_EVENTS
from domain.playlists.model import PLAYLIST_EVENTS
from domain.playlists.names import NAMES_EVENTS
from domain.presence.model import PRESENCE_EVENTS
from domain.promos.config import PROMO_CONFIG_EVENTS
from domain.queue.events import QUEUE_EVENTS
from domain.queue.order_model import ORDER_EVENTS
from domain.queue.pay_claim import CLAIM_EVENTS
from domain.queue.pay_model import PAY_EVENTS
from domain.queue.promo_model import PROMO_EVENTS
from domain.rules.config import RULES_EVENTS
from domain.schedules.model import SCHEDULE_EVENTS
from domain.wallet.keys import KEY_EVENTS
from domain.wallet.model import WALLET_EVENTS

ALL_EVENTS: tuple[type, ...] = (
    *QUEUE_EVENTS,
    *PAY_EVENTS,
    *CLAIM_EVENTS,
    *PROMO_EVENTS,
    *PROMO_CONFIG_EVENTS,
    *PRESENCE_EVENTS,
    *WALLET_EVENTS,
    *KEY_EVENTS,
    *PLAYLIST_EVENTS,
    *NAMES_EVENTS,
    *APPLY_EVENTS,
    *OTP_EVENTS,
    *ACCESS_EVENTS,
    *BLESSED_EVENTS,
    *IP_BLOCK_EVENTS,
    *LIKE_EVENTS,
    *LIKE_RULES_EVENTS,
    *CATALOG_EVENTS,
    *ORDER_EVENTS,
    *RULES_EVENTS,
    *SCHEDULE_EVENTS,
)
EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in ALL_EVENTS}
assert len(EVENT_TYPES) == len(ALL_EVENTS), "event type names must be unique"
