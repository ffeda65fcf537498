"""Controls for the simulated CyTube channel (embedded default only).

Reading the simulated channel is open, like the queue; every control that changes it (users
joining and leaving, skips, the clock, faults) needs an admin token: they make buyers "leave"
(and so refunds), skip paid items and move time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody
from msgspec import Meta

from adapters.sim.playlist import QueueFail
from application.errors import NotFoundError
from application.identity.roles import Identity, require
from domain.media import Media
from entrypoints.http.auth import BEARER, IdentityDep
from entrypoints.http.params import Channel, ServicesDep, Uid, UserName
from entrypoints.schemas import CytubeUser
from entrypoints.services import Services


class AddMedia(msgspec.Struct, forbid_unknown_fields=True):
    media_type: Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
    media_id: Annotated[str, Meta(min_length=1, max_length=300)]
    title: Annotated[str, Meta(max_length=500)] = ""
    duration_sec: Annotated[int, Meta(ge=0, le=7 * 24 * 3600)] = 0
    pos: Literal["end", "next"] = "end"
    temp: bool = False
    queued_by: Annotated[str, Meta(max_length=20)] = ""


class Hosted(msgspec.Struct, forbid_unknown_fields=True):
    """What the media's host says it is: CyTube reports this title and length when it lands."""

    media_type: Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
    media_id: Annotated[str, Meta(min_length=1, max_length=300)]
    title: Annotated[str, Meta(max_length=500)]
    duration_sec: Annotated[int, Meta(ge=0, le=7 * 24 * 3600)]


class Added(msgspec.Struct):
    uid: int


class Move(msgspec.Struct, forbid_unknown_fields=True):
    after: Annotated[int, Meta(ge=0)] | Literal["prepend", "append"]


class Join(msgspec.Struct, forbid_unknown_fields=True):
    name: CytubeUser
    rank: Annotated[float, Meta(ge=0, le=5)] = 1
    afk: bool = False


class Afk(msgspec.Struct, forbid_unknown_fields=True):
    afk: bool


class Advance(msgspec.Struct, forbid_unknown_fields=True):
    seconds: Annotated[float, Meta(gt=0, le=7 * 24 * 3600)]


class Faults(msgspec.Struct, forbid_unknown_fields=True):
    """Failures the simulated CyTube will produce next (counts of calls)."""

    fail_adds: Annotated[int, Meta(ge=0, le=1000)] = 0
    transient: bool = True
    drop_moves: Annotated[int, Meta(ge=0, le=1000)] = 0
    lose_after_add: Annotated[int, Meta(ge=0, le=1000)] = 0
    add_without_uid: Annotated[int, Meta(ge=0, le=1000)] = 0
    unavailable: Annotated[int, Meta(ge=0, le=1000)] = 0


class SimItem(msgspec.Struct):
    uid: int
    media_type: str
    media_id: str
    title: str
    duration_sec: int
    temp: bool
    queued_by: str


class SimUser(msgspec.Struct):
    name: str
    rank: float
    afk: bool


class SimState(msgspec.Struct):
    channel: str
    virtual_time: datetime
    speed: float
    current_uid: int | None
    elapsed_sec: float | None
    playlist: list[SimItem]
    users: list[SimUser]


class QueueFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _sim(  # type: ignore[no-untyped-def]
    services: Services, channel: str, admin: Identity | None = None
):
    """The simulated channel; with `admin`, only if that identity is an admin's."""
    if admin is not None:
        require(admin, "admin")
    sim = services.cytube.simulator
    if sim is None:
        raise NotFoundError(
            "no_simulator", "This service watches a real CyTube; there is no simulator."
        )
    if channel != sim.channel:
        raise NotFoundError("unknown_channel", f"The simulator runs channel {sim.channel!r} only.")
    return sim


class SimController(Controller):
    path = "/api/v1/sim/{channel:str}"
    tags = ["simulator"]
    security = BEARER  # the reads need none, every control an admin's
    opt = {"user_params": ("name",)}

    @get("/", summary="The simulated CyTube channel as it is")
    async def state(self, services: ServicesDep, channel: Channel) -> SimState:
        sim = _sim(services, channel)
        playing = sim.now_playing()
        return SimState(
            channel=sim.channel,
            virtual_time=services.kernel.clock.now(),
            speed=getattr(services.kernel.clock, "speed", 1.0),
            current_uid=sim.current_uid,
            elapsed_sec=None if playing is None else playing[1],
            playlist=[
                SimItem(
                    i.uid,
                    i.media.type,
                    i.media.id,
                    i.media.title,
                    i.media.duration_sec,
                    i.temp,
                    i.queued_by,
                )
                for i in sim.playlist()
            ],
            users=[SimUser(u.name, u.rank, u.afk) for u in sim.users()],
        )

    @post("/media", summary="Queue media, as a CyTube user would", status_code=201)
    async def add(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[AddMedia],
    ) -> Added:
        sim = _sim(services, channel, identity)
        media = Media(data.media_type, data.media_id, data.title, data.duration_sec)
        try:
            uid = await sim.add(media, data.pos, data.temp, data.queued_by)
        except QueueFail as fail:
            raise QueueFailed(fail.msg) from fail
        return Added(uid)

    @delete("/media/{uid:int}", summary="Delete an item", status_code=204)
    async def remove(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, uid: Uid
    ) -> None:
        sim = _sim(services, channel, identity)
        if all(item.uid != uid for item in sim.playlist()):
            raise NotFoundError("unknown_item", f"No item with uid {uid} is on the playlist.")
        await sim.delete(uid)

    @post("/media/{uid:int}/move", summary="Move an item after another uid", status_code=204)
    async def move(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        uid: Uid,
        data: JSONBody[Move],
    ) -> None:
        await _sim(services, channel, identity).move(uid, data.after)

    @post("/skip", summary="Skip to the next item", status_code=204)
    async def skip(self, services: ServicesDep, identity: IdentityDep, channel: Channel) -> None:
        await _sim(services, channel, identity).skip()

    @post("/users", summary="A user joins", status_code=204)
    async def join(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, data: JSONBody[Join]
    ) -> None:
        await _sim(services, channel, identity).join(data.name, data.rank, data.afk)

    @delete("/users/{name:str}", summary="A user leaves", status_code=204)
    async def leave(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, name: UserName
    ) -> None:
        await _sim(services, channel, identity).leave(name)

    @put("/users/{name:str}/afk", summary="A user goes AFK or comes back", status_code=204)
    async def afk(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        name: UserName,
        data: JSONBody[Afk],
    ) -> None:
        await _sim(services, channel, identity).set_afk(name, data.afk)

    @post("/clock/advance", summary="Move the virtual clock forward", status_code=204)
    async def advance(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[Advance],
    ) -> None:
        sim = _sim(services, channel, identity)
        services.kernel.clock.advance(data.seconds)  # type: ignore[attr-defined]
        await sim.play_due()

    @put(
        "/hosted",
        summary="Set what the media's host says (its title and length, as CyTube will report)",
        status_code=204,
    )
    async def hosted(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, data: JSONBody[Hosted]
    ) -> None:
        _sim(services, channel, identity).know_media(
            data.media_type, data.media_id, data.title, data.duration_sec
        )

    @post("/faults", summary="Make the simulated CyTube fail the next calls", status_code=204)
    async def faults(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, data: JSONBody[Faults]
    ) -> None:
        _sim(services, channel, identity)
        cytube: Any = services.cytube.port  # the simulated one: the controls exist only here
        if data.fail_adds:
            cytube.fail_adds(data.fail_adds, transient=data.transient)
        if data.drop_moves:
            cytube.drop_moves(data.drop_moves)
        if data.lose_after_add:
            cytube.lose_after_add(data.lose_after_add)
        if data.add_without_uid:
            cytube.add_without_uid(data.add_without_uid)
        if data.unavailable:
            cytube.unavailable(data.unavailable)
