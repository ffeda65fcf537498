"""Queue reads and the live WebSocket."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from litestar import Controller, WebSocket, get, websocket
from litestar.exceptions import WebSocketDisconnect

from application.errors import NotFoundError
from application.queue_view import QueueView
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
    async def queue(self, services: ServicesDep, channel: Channel) -> QueueView:
        return await services.queries.queue(await known_channel(services, channel))

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
