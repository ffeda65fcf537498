"""Every setting of the service, with a sensible default for each."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from attrs import field, frozen

from application.identity.rules import IdentityConfig
from application.log.intake import IntakeConfig
from application.pay.flow import PayFlowConfig
from domain.queue.presence_policy import PresenceRefundConfig

DEFAULT_DATA_DIR = Path(".webqueue")


@frozen
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    port: int = 8080
    channel: str = "lobby"
    nats_url: str | None = None
    db_url: str | None = None
    cytube: Literal["sim", "kryten"] = "sim"
    economy: Literal["local", "kryten"] = "local"
    domain: str = "cytu.be"
    pay_flow: PayFlowConfig = field(factory=PayFlowConfig)
    presence_refund: PresenceRefundConfig = field(factory=PresenceRefundConfig)
    intake: IntakeConfig = field(factory=IntakeConfig)
    identity: IdentityConfig = field(factory=IdentityConfig)
    channel_title: str | None = None  # the name the pages show (default: the channel's)
    accent: str = "#2454c5"  # the pages' accent colour (a dark one: white text sits on it)
    sim_speed: float = 1.0
    sim_seed_demo: bool = True
    stream: str = "WEBQUEUE"
    log_level: str = "info"

    @property
    def embedded(self) -> bool:
        """No NATS URL: run our own nats-server on the data directory."""
        return self.nats_url is None

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'read.db').resolve()}"
