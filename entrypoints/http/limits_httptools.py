"""uvicorn's httptools protocol with a deadline for each request's line and headers (as
`GuardedH11Protocol` does for h11); imported only when httptools is installed."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from entrypoints.config.settings import HttpLimits


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """A request's line and headers must arrive within `header_timeout_sec` of the connection
    (or of the last response on it), or the connection is closed."""

    header_timeout_sec = HttpLimits().header_timeout_sec

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_sec, self._too_slow)

    def _disarm(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def on_headers_complete(self) -> None:
        self._disarm()  # the request line and headers are in
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.transport.get_protocol() is self:
            self.transport.close()
