"""uvicorn, made to leave shutdown to us."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator

import uvicorn

from entrypoints.http.app import create_app
from entrypoints.http.limits import guarded_protocol
from entrypoints.services import Services


class OrderlyServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT once it has stopped, which would kill the process
    before the embedded nats-server and the read models are closed; here a signal only asks
    uvicorn to stop, and the shutdown that follows runs to the end."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def per_message_deflate_default() -> bool:
    return os.environ.get("WEBQUEUE_WS_DEFLATE", "") == "1"


def http_parser_default() -> str:
    """WEBQUEUE_HTTP_PARSER: `httptools`, `h11`, or `auto` (the default: httptools when it is
    installed, else h11)."""
    return os.environ.get("WEBQUEUE_HTTP_PARSER", "") or "auto"


def http_server(
    services: Services,
    *,
    log_level: str = "info",
    per_message_deflate: bool | None = None,
    http_parser: str | None = None,
) -> OrderlyServer:
    """`per_message_deflate` is off unless asked for (WEBQUEUE_WS_DEFLATE=1 turns it on too).

    The only WebSocket is the live queue, which sends every watcher the same frame of a few KB
    per change. uvicorn compresses that frame again for each socket (through ASGI one
    compressed frame cannot be shared) and each client inflates it. At 1,000 sockets on two
    shared vCPUs (bench_observation_to_screen, same code, back to back) handing one change to
    every socket took p50 105 ms with it and 42 ms without, and observation to screen was
    p50 78 / p99 257 ms with it, 52 / 114 ms without. What it would save is bandwidth (a
    3.4 KB queue frame shrinks to about 100 bytes with context takeover: 3.4 MB instead of
    0.1 MB per change at 1,000 watchers), at the price of a zlib state per socket (~40 KB)."""
    if per_message_deflate is None:
        per_message_deflate = per_message_deflate_default()
    if http_parser is None:
        http_parser = http_parser_default()
    settings = services.kernel.settings
    limits = settings.http_limits
    config = uvicorn.Config(
        create_app(services),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        http=guarded_protocol(limits, http_parser),  # with a deadline for each request's headers
        ws="auto",
        ws_per_message_deflate=per_message_deflate,
        ws_max_size=limits.ws_max_frame_bytes,  # the live socket needs nothing from clients
        ws_max_queue=4,
        limit_concurrency=limits.http_max_connections,
        timeout_keep_alive=limits.keep_alive_timeout_sec,  # set here, not left to uvicorn
        ws_ping_interval=limits.ws_ping_interval_sec,
        ws_ping_timeout=limits.ws_ping_timeout_sec,
    )
    return OrderlyServer(config)
