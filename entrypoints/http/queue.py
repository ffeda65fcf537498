"""Queue reads and the live WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import msgspec
from litestar import Controller, WebSocket, get, websocket
from litestar.exceptions import ValidationException, WebSocketDisconnect
from litestar.params import QueryParameter

from application.errors import NotFoundError
from application.queue_view import QueueView
from application.replay import BadReplayQuery, parse_log_point
from application.time_travel import TimeTravel
from entrypoints.bootstrap import Services
from entrypoints.http.params import Channel, ServicesDep

_encode = msgspec.json.Encoder().encode


async def known_channel(services: Services, channel: str) -> str:
    if channel == services.settings.channel or channel in await services.queries.channels():
        return channel
    raise NotFoundError("unknown_channel", f"No channel named {channel!r} is served here.")


class QueueController(Controller):
    path = "/api/v1/channels"
    tags = ["queue"]

    @get("/", summary="Channels with a queue")
    async def channels(self, services: ServicesDep) -> list[str]:
        names = set(await services.queries.channels()) | {services.settings.channel}
        return sorted(names)

    @get("/{channel:str}/queue", summary="The queue: now playing, then items in play order")
    async def queue(
        self,
        services: ServicesDep,
        channel: Channel,
        as_of: Annotated[
            str | None,
            QueryParameter(
                name="as_of",
                max_length=64,
                description="Time travel: an RFC 3339 time or a log position. The queue as it "
                "was then, folded from the log, with ETAs at that moment (for a position, the "
                "time of that commit); `position` is the last queue commit folded.",
            ),
        ] = None,
    ) -> QueueView:
        name = await known_channel(services, channel)
        if as_of is None:
            return await services.queries.queue(name)
        try:
            return await TimeTravel(services.log.events).queue(
                name, parse_log_point(as_of, "as_of")
            )
        except BadReplayQuery as exc:
            raise ValidationException(
                detail=exc.message,
                extra=[{"key": "as_of", "message": exc.message, "source": "query"}],
            ) from None

    @websocket("/{channel:str}/live")
    async def live(self, socket: WebSocket, services: ServicesDep, channel: Channel) -> None:
        """Sends the queue on connect and again on every change, as JSON text frames."""
        try:
            await known_channel(services, channel)
        except NotFoundError as exc:
            await socket.close(code=4404, reason=exc.message[:120])
            return
        await socket.accept()
        watcher = await services.live.watch(channel)
        listener = asyncio.ensure_future(socket.receive_data("text"))
        try:
            while True:
                nxt = asyncio.ensure_future(watcher.next())
                done, _ = await asyncio.wait({nxt, listener}, return_when="FIRST_COMPLETED")
                if nxt in done:
                    await socket.send_data(_encode(nxt.result()).decode(), mode="text")
                else:
                    nxt.cancel()
                if listener in done:
                    listener.result()  # raises on disconnect; other client frames are ignored
                    listener = asyncio.ensure_future(socket.receive_data("text"))
        except (WebSocketDisconnect, ConnectionError):
            pass
        finally:
            listener.cancel()
            services.live.unwatch(watcher)
            with contextlib.suppress(Exception):
                await socket.close()
