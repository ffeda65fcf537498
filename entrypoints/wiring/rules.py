"""Request rules: the settings service, plugged into pay's decision (its `RequestRules` port)
and into the pay flow, which judges the length rules again on CyTube's length."""

from __future__ import annotations

from attrs import define

from application.rules.service import RankOf, RoleOf, RulesService
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Plain
from entrypoints.wiring.pay import Pay


@define
class Rules(Plain):
    service: RulesService


def wire_rules(
    kernel: Kernel, pay: Pay, rank_of: RankOf | None = None, role_of: RoleOf | None = None
) -> Rules:
    """`rank_of`: a user's CyTube rank (the identity facts' fold of presence), for the rules'
    `exempt_min_rank`; `role_of`: a user's role by the identity facts, for `exempt_roles` when
    the pay flow judges a purchase again (it holds no token)."""
    service = RulesService(
        kernel.handler, defaults=kernel.settings.rules, rank_of=rank_of, role_of=role_of
    )
    pay.service.plug_rules(service)
    pay.flow.plug_rules(service)
    return Rules(service)
