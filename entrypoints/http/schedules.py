"""Scheduled events over HTTP (admin): list, create, edit, enable/disable, delete, fire now,
the coming occurrences and the fires, and lifting the running event's lock.

A fire time is ISO 8601: with an offset (`...Z`, `+01:00`) it is taken as given, without one it
is the channel's wall time (`[schedules] time_zone`)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody, Parameter
from msgspec import Meta

from application.schedules.service import (
    EventStatusOut,
    FireOut,
    OccurrenceOut,
    ScheduleOut,
    ScheduleService,
)
from application.schedules.status_view import ScheduleStatusView
from entrypoints.http.auth import IdentityDep
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel
from entrypoints.services import Services

ScheduleId = Annotated[str, Parameter(max_length=100)]
Label = Annotated[str, Meta(min_length=1, max_length=200)]
When = Annotated[str, Meta(min_length=10, max_length=40)]
Id = Annotated[str, Meta(min_length=1, max_length=64)]
Rule = Annotated[str, Meta(max_length=500)]
Version = Annotated[str, Meta(min_length=1, max_length=64)]


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    playlist_id: Id
    label: Label
    fire_at: When
    lock_minutes: Annotated[int, Meta(ge=0, le=1440)] | None = None
    fallback_playlist_id: Id | None = None
    immutable: bool = True
    active: bool = True
    rrule: Rule | None = None


class SchedulePatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    playlist_id: Id | msgspec.UnsetType = msgspec.UNSET
    label: Label | msgspec.UnsetType = msgspec.UNSET
    fire_at: When | msgspec.UnsetType = msgspec.UNSET
    lock_minutes: Annotated[int, Meta(ge=0, le=1440)] | msgspec.UnsetType | None = msgspec.UNSET
    fallback_playlist_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    immutable: bool | msgspec.UnsetType = msgspec.UNSET
    rrule: Rule | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    expected_version: Version | msgspec.UnsetType = msgspec.UNSET


class SchedulesOut(msgspec.Struct):
    time_zone: str
    schedules: list[ScheduleOut]


class UpcomingOut(msgspec.Struct):
    time_zone: str
    occurrences: list[OccurrenceOut]


class FiresOut(msgspec.Struct):
    fires: list[FireOut]


def _service(services: Services) -> ScheduleService:
    if services.schedules is None:
        raise NotFoundException("This service has no scheduled events.")
    return services.schedules.service


def _view(services: Services) -> ScheduleStatusView:
    if services.schedules is None:
        raise NotFoundException("This service has no scheduled events.")
    return services.schedules.view


class ScheduleController(Controller):
    path = "/api/v1/channels/{channel:str}/schedules"
    tags = ["schedules"]

    @get("", summary="Every schedule, the next one first (admin)")
    async def list_schedules(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> SchedulesOut:
        await known_channel(services, channel)
        service = _service(services)
        return SchedulesOut(service.config.time_zone, await service.list(channel, identity))

    @post("", summary="Create a schedule (admin); 409 schedule_overlap names both", status_code=201)
    async def create(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[ScheduleIn],
    ) -> ScheduleOut:
        await known_channel(services, channel)
        return await _service(services).create(channel, identity, **msgspec.structs.asdict(data))

    @get("/status", summary="The scheduled lock in force now and the next event (anyone)")
    async def status(self, services: ServicesDep, channel: Channel) -> EventStatusOut:
        await known_channel(services, channel)
        return await _view(services).status(channel)

    @get("/upcoming", summary="The coming occurrences (default a week): lock windows, fallbacks")
    async def upcoming(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        days: Annotated[float, Parameter(gt=0, le=366)] = 7,
    ) -> UpcomingOut:
        await known_channel(services, channel)
        service = _service(services)
        return UpcomingOut(
            service.config.time_zone, await service.upcoming(channel, identity, days)
        )

    @get("/fires", summary="The latest fires, newest first (admin)")
    async def fires(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> FiresOut:
        await known_channel(services, channel)
        return FiresOut(await _service(services).fires(channel, identity))

    @post("/lift", summary="End the running event: its lock lifts, the fallback follows (admin)")
    async def lift(self, services: ServicesDep, identity: IdentityDep, channel: Channel) -> FireOut:
        await known_channel(services, channel)
        return await _service(services).lift(channel, identity)

    @patch(
        "/{schedule_id:str}",
        summary="Change a schedule's settings (admin): those given; 409 version_conflict, "
        "schedule_overlap",
    )
    async def edit(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        schedule_id: ScheduleId,
        data: JSONBody[SchedulePatch],
    ) -> ScheduleOut:
        await known_channel(services, channel)
        changes = msgspec.structs.asdict(data)
        expected = changes.pop("expected_version")
        changes = {k: v for k, v in changes.items() if v is not msgspec.UNSET}
        return await _service(services).change(
            channel, identity, schedule_id, changes, None if expected is msgspec.UNSET else expected
        )

    @delete("/{schedule_id:str}", summary="Delete a schedule (admin)", status_code=204)
    async def remove(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        schedule_id: ScheduleId,
    ) -> None:
        await known_channel(services, channel)
        await _service(services).delete(channel, identity, schedule_id)

    @post("/{schedule_id:str}/fire", summary="Fire a schedule now (admin)", status_code=202)
    async def fire(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        schedule_id: ScheduleId,
    ) -> FireOut:
        await known_channel(services, channel)
        return await _service(services).fire_now(channel, identity, schedule_id)
