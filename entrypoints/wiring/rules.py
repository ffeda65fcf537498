"""Request rules: the settings service, plugged into pay's decision (its `RequestRules` port)."""

from __future__ import annotations

from attrs import define

from application.rules.service import RulesService
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Plain
from entrypoints.wiring.pay import Pay


@define
class Rules(Plain):
    service: RulesService


def wire_rules(kernel: Kernel, pay: Pay) -> Rules:
    service = RulesService(kernel.handler, defaults=kernel.settings.rules)
    pay.service.plug_rules(service)
    return Rules(service)
