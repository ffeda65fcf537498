"""A TCP relay to a nats-server that can cut every connection through it, as a dropped line or
a server that cuts a slow consumer off would: the server itself stays up; or partition the
client off (cut, and refuse every new connection until healed), as a network split would."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class Relay:
    """A TCP relay to the nats-server that can cut every connection through it."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 4222)
        self._pipes: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._refusing = False
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"nats://127.0.0.1:{port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        pipes = [
            asyncio.create_task(_pump(reader, up_writer)),
            asyncio.create_task(_pump(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes)
        except asyncio.CancelledError:
            pass
        finally:
            for w in (writer, up_writer):
                w.close()
            self._pipes.difference_update(pipes)

    def cut(self) -> None:
        for pipe in list(self._pipes):
            pipe.cancel()

    def partition(self) -> None:
        """Cut every connection and refuse new ones until `heal`."""
        self._refusing = True
        self.cut()

    def heal(self) -> None:
        self._refusing = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
