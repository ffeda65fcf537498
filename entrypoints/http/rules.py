"""Request rules over HTTP: read them, change them (in effect on the next purchase), and check a
change without making it (the admin page's live validation).

A PUT changes the fields it names and keeps the others as they are; a 422 names the bad field.
"""

from __future__ import annotations

from litestar import Controller, get, post, put
from litestar.params import JSONBody

from application.identity.roles import require
from domain.rules.config import validate
from entrypoints.http.auth import IdentityDep
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel
from entrypoints.rules_bodies import (
    RulesBody,
    RulesPatch,
    rules_service,
    rules_to_body,
    rules_to_domain,
)


class RulesController(Controller):
    path = "/api/v1/channels/{channel:str}/rules"
    tags = ["rules"]

    @get("", summary="The channel's request rules (anyone signed in)")
    async def get_rules(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> RulesBody:
        await known_channel(services, channel)
        service = rules_service(services)
        return rules_to_body(await service.config(channel, identity))

    @put(
        "",
        summary="Change the request rules (admin): the fields given, in effect at once; 422 "
        "names a bad field",
    )
    async def put_rules(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[RulesPatch],
    ) -> RulesBody:
        await known_channel(services, channel)
        service = rules_service(services)
        require(identity, "admin")
        changed = rules_to_domain(await service.config(channel, identity), data)
        return rules_to_body(await service.set_config(channel, identity, changed))

    @post(
        "/check",
        status_code=200,
        summary="Check a change without making it (admin): the rules it would give, or 422",
    )
    async def check_rules(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[RulesPatch],
    ) -> RulesBody:
        await known_channel(services, channel)
        service = rules_service(services)
        require(identity, "admin")
        changed = rules_to_domain(await service.config(channel, identity), data)
        validate(changed)  # InvalidSetting: 422 naming the field
        return rules_to_body(changed)
