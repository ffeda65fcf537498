"""uvicorn, made to leave shutdown to us."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn

from entrypoints.bootstrap import Services
from entrypoints.http.app import create_app


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


def http_server(services: Services, *, log_level: str = "info") -> OrderlyServer:
    settings = services.settings
    config = uvicorn.Config(
        create_app(services),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws="auto",
    )
    return OrderlyServer(config)
