"""A channel's request rules: an aggregate of their own, so every change is an event.

Until an admin changes them, the operator's defaults (the config file's `[rules]`) apply.
Validation names the field it refuses (`max_length_sec`), for a 422 a person can act on.
Refusals by rule are written here too (`RequestRefusedByRule`): the log says which rule refused
what, and the stats count them.
"""

from __future__ import annotations

from typing import ClassVar

from attrs import evolve as replace
from attrs import frozen

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.promos.config import InvalidSetting

ROLES = ("viewer", "blessed", "admin")
MAX_REASON = 300
#: The longest "no repeats" window (90 days); the queue remembers starts this long.
MAX_NO_REPEAT_HOURS = 90 * 24
#: The highest CyTube rank (a site admin is 255; a channel's own go up to 5, the founder).
MAX_RANK = 255


@frozen
class BlockedMedia:
    media_type: str
    media_id: str
    reason: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.media_type, self.media_id)


@frozen
class BlockedUser:
    user: str
    reason: str = ""


@frozen
class RulesConfig:
    """`None` (or 0 for the cooldown and repeat window) turns a rule off.

    `exempt_roles`: callers with one of these roles skip the per-viewer rules (pending count,
    pending minutes, cooldown); the rules on the media and the queue apply to everyone.
    `exempt_min_rank`: so do viewers whose CyTube rank (as CyTube last reported it in the
    channel) is at least this (2 moderator, 3 channel admin; None: ranks exempt nobody)."""

    max_pending_per_viewer: int | None = 2
    exempt_roles: tuple[str, ...] = ()
    min_length_sec: int = 0
    max_length_sec: int | None = None
    max_viewer_pending_minutes: float | None = None
    max_queue_pending_minutes: float | None = None
    cooldown_minutes: float = 0.0
    no_repeat_hours: float = 0.0
    blocked_media: tuple[BlockedMedia, ...] = ()
    blocked_users: tuple[BlockedUser, ...] = ()
    #: Tier `queue` in round-robin between buyers instead of first come, first served.
    fair_order: bool = False
    exempt_min_rank: float | None = None

    def media_block(self, key: tuple[str, str]) -> BlockedMedia | None:
        return next((b for b in self.blocked_media if b.key == key), None)

    def user_block(self, user: str) -> BlockedUser | None:
        low = user.lower()
        return next((b for b in self.blocked_users if b.user.lower() == low), None)


def validate(config: RulesConfig) -> None:
    if config.max_pending_per_viewer is not None and not 1 <= config.max_pending_per_viewer <= 100:
        raise InvalidSetting("max_pending_per_viewer", "must be 1 to 100 (or null for no limit)")
    for role in config.exempt_roles:
        if role not in ROLES:
            raise InvalidSetting("exempt_roles", f"unknown role {role!r}; known: {ROLES}")
    rank = config.exempt_min_rank
    if rank is not None and not 0 <= rank <= MAX_RANK:
        raise InvalidSetting("exempt_min_rank", f"must be a CyTube rank, 0 to {MAX_RANK} (or null)")
    if not 0 <= config.min_length_sec <= 24 * 3600:
        raise InvalidSetting("min_length_sec", "must be 0 to 86400 seconds")
    if config.max_length_sec is not None:
        if not 1 <= config.max_length_sec <= 7 * 24 * 3600:
            raise InvalidSetting("max_length_sec", "must be 1 to 604800 seconds (or null)")
        if config.max_length_sec < config.min_length_sec:
            raise InvalidSetting("max_length_sec", "must not be below min_length_sec")
    for name in ("max_viewer_pending_minutes", "max_queue_pending_minutes"):
        value = getattr(config, name)
        if value is not None and not 0 < value <= 7 * 24 * 60:
            raise InvalidSetting(name, "must be above 0 and at most 10080 minutes (or null)")
    if not 0 <= config.cooldown_minutes <= 7 * 24 * 60:
        raise InvalidSetting("cooldown_minutes", "must be 0 to 10080 minutes")
    if not 0 <= config.no_repeat_hours <= MAX_NO_REPEAT_HOURS:
        raise InvalidSetting(
            "no_repeat_hours", f"must be 0 to {MAX_NO_REPEAT_HOURS} hours (90 days)"
        )
    seen: set[tuple[str, str]] = set()
    for i, media in enumerate(config.blocked_media):
        if not media.media_type or not media.media_id or media.key in seen:
            raise InvalidSetting(f"blocked_media[{i}]", "needs a media type and id, once each")
        if len(media.reason) > MAX_REASON:
            raise InvalidSetting(f"blocked_media[{i}].reason", f"at most {MAX_REASON} chars")
        seen.add(media.key)
    users: set[str] = set()
    for i, user in enumerate(config.blocked_users):
        if not user.user.strip() or user.user.lower() in users:
            raise InvalidSetting(f"blocked_users[{i}]", "needs a user name, once each")
        if len(user.reason) > MAX_REASON:
            raise InvalidSetting(f"blocked_users[{i}].reason", f"at most {MAX_REASON} chars")
        users.add(user.user.lower())


@frozen
class SetRules:
    config: RulesConfig
    by: str


@frozen
class RecordRuleRefusal:
    user: str
    media_type: str
    media_id: str
    code: str
    #: Set for a purchase refused after it was taken, on the length CyTube reports.
    request_id: str | None = None
    duration_sec: int | None = None


@frozen
class RulesChanged:
    VERSION: ClassVar[int] = 1
    config: RulesConfig
    by: str


@frozen
class RequestRefusedByRule:
    """A purchase a rule refused: who, what, and which rule (`code`). Before any money moved,
    or (`request_id` set) once CyTube reported the length (`duration_sec`) of a purchase
    taken at the buyer's shorter hint: it was taken off and refunded in full."""

    VERSION: ClassVar[int] = 1
    user: str
    media_type: str
    media_id: str
    code: str
    request_id: str | None = None
    duration_sec: int | None = None


RULES_EVENTS: tuple[type, ...] = (RulesChanged, RequestRefusedByRule)


@frozen
class RulesState:
    channel: str
    config: RulesConfig = RulesConfig()
    changed: bool = False

    def effective(self, defaults: RulesConfig) -> RulesConfig:
        return self.config if self.changed else defaults


def _decide(state: RulesState, command: SetRules, ctx: Context) -> tuple[RulesChanged, ...]:
    validate(command.config)
    if state.changed and command.config == state.config:
        return ()
    return (RulesChanged(command.config, command.by),)


def _evolve(state: RulesState, event: RulesChanged) -> RulesState:
    return replace(state, config=event.config, changed=True)


rules_decider: Decider[RulesState, SetRules, RulesChanged] = Decider(
    aggregate="request_rules",
    initial=lambda channel: RulesState(channel),
    decide=_decide,
    evolve=_evolve,
)


@frozen
class RefusalLog:
    """Refusals are only written, never folded into a decision: their stream holds no state."""

    channel: str


def _decide_refusal(
    state: RefusalLog, command: RecordRuleRefusal, ctx: Context
) -> tuple[RequestRefusedByRule, ...]:
    if not command.code.startswith("rule_"):
        raise Rejected("not_a_rule", f"{command.code!r} is not a rule's refusal.")
    rid = command.request_id[:100] if command.request_id is not None else None
    return (
        RequestRefusedByRule(
            command.user[:100],
            command.media_type[:40],
            command.media_id[:300],
            command.code,
            rid,
            command.duration_sec,
        ),
    )


refusal_decider: Decider[RefusalLog, RecordRuleRefusal, RequestRefusedByRule] = Decider(
    aggregate="rule_refusals",
    initial=lambda channel: RefusalLog(channel),
    decide=_decide_refusal,
    evolve=lambda state, event: state,
)
