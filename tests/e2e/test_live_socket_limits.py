"""The live socket and slow clients, with real sockets against the real server.

Seen: client frames up to 16 MiB were accepted and ignored, and 60 clients pushed memory from
200 MB to 1.4 GB (660 MB kept after they left). Now a frame over the cap closes the socket
(1009) before it is buffered, sockets are capped per address and in all, a client that
trickles its request headers is cut off, and an idle keep-alive connection is closed after the
service's own setting. (What it does to memory is measured in
bench/bench_ws_floods.py: timings and sizes live there, not here.)
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from entrypoints.config.settings import HttpLimits
from tests.e2e.conftest import Running, serving
from tests.e2e.test_http_and_live import caught_up

MIB = 1024 * 1024


async def first_frame(ws: websockets.asyncio.client.ClientConnection) -> str:
    return str(await asyncio.wait_for(ws.recv(), 10))


async def test_a_16_mib_frame_is_refused_and_the_socket_closed(service: Running) -> None:
    await caught_up(service)
    url = f"{service.ws}/api/v1/channels/lobby/live"
    async with connect(url, max_size=None, write_limit=32 * MIB) as ws:
        await first_frame(ws)
        with contextlib.suppress(ConnectionClosed):
            await ws.send("x" * (16 * MIB))
        with pytest.raises(ConnectionClosed):
            for _ in range(100):
                await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1009  # message too big
    # The server is none the worse for it: a new socket gets the queue.
    async with connect(url) as again:
        assert '"items"' in await first_frame(again)


async def test_small_client_frames_are_still_read_and_ignored(service: Running) -> None:
    await caught_up(service)
    async with connect(f"{service.ws}/api/v1/channels/lobby/live") as ws:
        await first_frame(ws)
        for _ in range(20):
            await ws.send("ping from a chatty client")
        await ws.ping()
        assert ws.close_code is None


async def test_sockets_are_capped_per_address_and_in_all(tmp_path: Path) -> None:
    limits = HttpLimits(ws_max_per_ip=3, ws_max_connections=5)
    async with serving(tmp_path / "data", sim_speed=1.0, http_limits=limits) as svc:
        await caught_up(svc)
        url = f"{svc.ws}/api/v1/channels/lobby/live"
        async with contextlib.AsyncExitStack() as stack:
            held = [await stack.enter_async_context(connect(url)) for _ in range(3)]
            for ws in held:
                await first_frame(ws)
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url):
                    pass
            assert refused.value.response.status_code == 403
            await held[0].close()
            await asyncio.sleep(0.2)  # the server notices the close
            async with connect(url) as ws:  # the slot it left is free again
                await first_frame(ws)
        assert svc.services.queue.live.connections == 0


async def test_the_total_cap_holds_whatever_the_address(tmp_path: Path) -> None:
    limits = HttpLimits(ws_max_per_ip=100, ws_max_connections=2)
    async with serving(tmp_path / "data", sim_speed=1.0, http_limits=limits) as svc:
        await caught_up(svc)
        url = f"{svc.ws}/api/v1/channels/lobby/live"
        async with connect(url) as a, connect(url) as b:
            await first_frame(a)
            await first_frame(b)
            with pytest.raises(InvalidStatus):
                async with connect(url):
                    pass


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_a_client_trickling_its_headers_is_cut_off(
    tmp_path: Path, parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBQUEUE_HTTP_PARSER", parser)  # each of uvicorn's parsers is guarded
    limits = HttpLimits(header_timeout_sec=0.5)
    async with serving(tmp_path / "data", sim_speed=1.0, http_limits=limits) as svc:
        port = int(svc.base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        await writer.drain()
        for _ in range(20):  # a byte every so often, as slowloris does
            if reader.at_eof():
                break
            try:
                writer.write(b"X-a: b\r\n")
                await writer.drain()
            except (ConnectionError, OSError):
                break
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                    break
        got = await asyncio.wait_for(reader.read(), 10)
        assert got == b"", got  # closed, with no answer
        writer.close()
        # A normal request on a new connection is answered.
        assert (await svc.http.get("/health")).status_code == 200


async def test_an_idle_keep_alive_connection_is_closed_after_the_setting(tmp_path: Path) -> None:
    limits = HttpLimits(keep_alive_timeout_sec=1)  # uvicorn's own default would be 5 s
    async with serving(tmp_path / "data", sim_speed=1.0, http_limits=limits) as svc:
        port = int(svc.base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(
                next(
                    h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")
                ).split(b":")[1]
            )
            await reader.readexactly(length)
            loop = asyncio.get_running_loop()
            idle_since = loop.time()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, with no answer
            idle = loop.time() - idle_since
        finally:
            writer.close()
        assert 0.8 <= idle < 3, idle


async def test_a_header_flood_is_refused_without_a_500(service: Running) -> None:
    port = int(service.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-a: " + b"b" * (200 * 1024))
        writer.write(b"\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        try:
            answer = await asyncio.wait_for(reader.read(200), 10)
        except ConnectionError:
            answer = b""  # reset: refused before we finished sending
    finally:
        writer.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer
