"""Every setting of the service, with a sensible default for each.

Top-level fields are plain keys of the config file; a field whose type is an attrs class is a
section (`[pay_flow]`, `[presence_refund]`, ...). A capability adds its section by adding one
such field here: the loader (`entrypoints.config.loader`) reads, validates and shows every field
it finds, so it needs no change. A field marked `metadata={"secret": True}` (or named like a
password, secret or token) is masked by `webqueue config show`. docs/configuration.md lists
them all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from attrs import Attribute, field, frozen

from adapters.kryten.config import KrytenConfig
from adapters.ledger.local_ledger import Pricing
from application.catalog.config import CatalogConfig
from application.cytube.resync import ResyncConfig
from application.identity.rules import IdentityConfig
from application.likes.config import LikesConfig
from application.log.intake import IntakeConfig
from application.pay.flow import PayFlowConfig
from application.playlists.apply import ApplyConfig
from application.schedules.service import ScheduleConfig
from domain.promos.config import InvalidSetting, PromoConfig, validate
from domain.queue.presence_policy import PresenceRefundConfig
from domain.rules.config import RulesConfig
from domain.rules.config import validate as validate_rules

DEFAULT_DATA_DIR = Path(".webqueue")

LogLevel = Literal["debug", "info", "warning", "error"]


def _port(_: object, attribute: Attribute[int], value: int) -> None:
    if not 0 < value < 65536:
        raise ValueError(f"must be 1 to 65535, got {value}")


def _colour(_: object, attribute: Attribute[str], value: str) -> None:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise ValueError(f"must be a colour as #rrggbb, got {value!r}")


def _positive(_: object, attribute: Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be more than zero, got {value}")


def _replicas(_: object, attribute: Attribute[int], value: int) -> None:
    if not 1 <= value <= 5:
        raise ValueError(
            f"must be 1 to 5 (JetStream's limit; 3 on a three-node cluster), got {value}"
        )


def _lease_ttl(_: object, attribute: Attribute[float], value: float) -> None:
    if not 1 <= value <= 300:
        raise ValueError(f"must be 1 to 300 seconds, got {value}")


def _workers(_: object, attribute: Attribute[int], value: int) -> None:
    if not 0 <= value <= 8:
        raise ValueError(f"must be 0 to 8 (1 uses a second core; more are standbys), got {value}")


def _not_blank(_: object, attribute: Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError("must not be blank")


class SectionError(ValueError):
    """A section's own check failed; `field` is the key inside the section."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _promos(_: object, attribute: Attribute[PromoConfig], value: PromoConfig) -> None:
    try:
        validate(value)
    except InvalidSetting as exc:
        raise SectionError(exc.field, exc.message.split(": ", 1)[-1]) from None


def _rules(_: object, attribute: Attribute[RulesConfig], value: RulesConfig) -> None:
    try:
        validate_rules(value)
    except InvalidSetting as exc:
        raise SectionError(exc.field, exc.message.split(": ", 1)[-1]) from None


@frozen
class LockConfig:
    """`default_minutes`: how long a lock set without an end lasts (0: until it is lifted)."""

    default_minutes: float = 0.0


@frozen
class HttpLimits:
    """What one client may hold of the HTTP server (entrypoints.http.limits says why)."""

    ws_max_connections: int = 5_000
    ws_max_per_ip: int = 50
    ws_max_frame_bytes: int = 4_096
    http_max_connections: int = 10_000
    header_timeout_sec: float = 10.0
    # An idle keep-alive connection is closed after this long (uvicorn's `timeout_keep_alive`).
    keep_alive_timeout_sec: int = 5
    # The live socket is pinged this often, and closed when a ping is not answered in
    # `ws_ping_timeout_sec` (a client gone without a close frame frees its slot).
    ws_ping_interval_sec: float = 20.0
    ws_ping_timeout_sec: float = 20.0
    max_body_bytes: int = 4 * 1024 * 1024  # more than any command needs (a commit is <= 1 MiB)


@frozen
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    port: int = field(default=8080, validator=_port)
    channel: str = field(default="lobby", validator=_not_blank)
    nats_url: str | None = field(default=None, metadata={"url": True})
    nats_creds: Path | None = None  # a credentials file for --nats-url (adapters.nats.credentials)
    allow_open_nats: bool = False  # run on a server that lets anyone in (tests, benchmarks)
    db_url: str | None = field(default=None, metadata={"url": True})
    cytube: Literal["sim", "kryten"] = "sim"
    economy: Literal["local", "kryten"] = "local"
    domain: str = field(default="cytu.be", validator=_not_blank)
    pay_flow: PayFlowConfig = field(factory=PayFlowConfig)
    playlists: ApplyConfig = field(factory=ApplyConfig)
    presence_refund: PresenceRefundConfig = field(factory=PresenceRefundConfig)
    intake: IntakeConfig = field(factory=IntakeConfig)
    identity: IdentityConfig = field(factory=IdentityConfig)
    channel_title: str | None = None  # the name the pages show (default: the channel's)
    # The pages' accent colour (a dark one: white text sits on it).
    accent: str = field(default="#2454c5", validator=_colour)
    http_limits: HttpLimits = field(factory=HttpLimits)
    sim_speed: float = field(default=1.0, validator=_positive)
    sim_seed_demo: bool = True
    stream: str = field(default="WEBQUEUE", validator=_not_blank)
    # Copies JetStream keeps of the stream and of every KV bucket: 1 on one server, 3 on a
    # three-node cluster (a node can then be lost with nothing acknowledged lost).
    replicas: int = field(default=1, validator=_replicas)
    # Seconds a lease lasts unrenewed (a channel's owner-only work, the projections of a shared
    # database): how soon another instance takes over from one that died. Alike on every one.
    lease_ttl: float = field(default=10.0, validator=_lease_ttl)
    # False: an instance that never takes a lease (serves HTTP, WebSockets, NATS commands only).
    take_leases: bool = True
    # `serve --workers N`: processes running the projections and process managers, beside this
    # one serving HTTP (entrypoints.workers); 0: all in this process.
    workers: int = field(default=0, validator=_workers)
    log_level: LogLevel = "info"
    kryten: KrytenConfig = field(factory=KrytenConfig)
    resync: ResyncConfig = field(factory=ResyncConfig)
    ledger: Pricing = field(factory=Pricing)
    lock: LockConfig = field(factory=LockConfig)
    # The promo settings a channel starts with; an admin's PUT promos/config then rules.
    promos: PromoConfig = field(factory=PromoConfig, validator=_promos)
    likes: LikesConfig = field(factory=LikesConfig)
    # The request rules a channel starts with; an admin's PUT rules then rules.
    rules: RulesConfig = field(factory=RulesConfig, validator=_rules)
    catalog: CatalogConfig = field(factory=CatalogConfig)
    schedules: ScheduleConfig = field(factory=ScheduleConfig)

    @property
    def embedded(self) -> bool:
        """No NATS URL: run our own nats-server on the data directory."""
        return self.nats_url is None

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'read.db').resolve()}"
