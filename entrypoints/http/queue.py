"""Queue reads and the live WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from litestar import Controller, WebSocket, get, websocket
from litestar.exceptions import ValidationException, WebSocketDisconnect
from litestar.params import QueryParameter

from application.errors import NotFoundError
from application.log.replay import BadReplayQuery, parse_log_point
from application.queue.time_travel import TimeTravel
from application.queue.view import QueueView
from entrypoints.http.limits import WsLimits
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.services import Services


async def known_channel(services: Services, channel: str) -> str:
    if (
        channel == services.kernel.settings.channel
        or channel in await services.queue.queries.channels()
    ):
        return channel
    raise NotFoundError("unknown_channel", f"No channel named {channel!r} is served here.")


class QueueController(Controller):
    path = "/api/v1/channels"
    tags = ["queue"]

    @get("/", summary="Channels with a queue")
    async def channels(self, services: ServicesDep) -> list[str]:
        names = set(await services.queue.queries.channels()) | {services.kernel.settings.channel}
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
            return await services.queue.queries.queue(name)
        try:
            return await TimeTravel(services.kernel.log.events).queue(
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
        limits: WsLimits = socket.app.state.ws_limits
        ip = socket.client.host if socket.client else "?"
        refused = limits.admit(ip)
        if refused is not None:
            await socket.close(code=1013, reason=refused[:120])  # "try again later"
            return
        try:
            await self._serve(socket, services, channel)
        finally:
            limits.release(ip)

    async def _serve(self, socket: WebSocket, services: Services, channel: str) -> None:
        await socket.accept()
        watcher = await services.queue.live.watch(channel)
        # Client frames are read and ignored; the disconnect (or any failure) closes the mailbox.
        listener = asyncio.ensure_future(_ignore_client_frames(socket))
        listener.add_done_callback(lambda _: watcher.close())
        try:
            # The frames are the same str for every watcher: encoded once per change.
            while (frame := await watcher.next()) is not None:
                await socket.send_data(frame, mode="text")
        except (WebSocketDisconnect, OSError):  # uvicorn's ClientDisconnected is an OSError
            pass
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            services.queue.live.unwatch(watcher)
            with contextlib.suppress(Exception):
                await socket.close()


async def _ignore_client_frames(socket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, OSError):
        while True:
            await socket.receive_data("text")
