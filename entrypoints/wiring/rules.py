"""Request rules: the settings service, plugged into pay's decision (its `RequestRules` port)."""

from __future__ import annotations

from attrs import define

from application.rules.service import RankOf, RulesService
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Plain
from entrypoints.wiring.pay import Pay


@define
class Rules(Plain):
    service: RulesService


def wire_rules(kernel: Kernel, pay: Pay, rank_of: RankOf | None = None) -> Rules:
    """`rank_of`: a user's CyTube rank (the identity facts' fold of presence), for the rules'
    `exempt_min_rank`."""
    service = RulesService(kernel.handler, defaults=kernel.settings.rules, rank_of=rank_of)
    pay.service.plug_rules(service)
    return Rules(service)
