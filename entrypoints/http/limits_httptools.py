"""uvicorn's httptools protocol with a deadline for each request's line and headers and a cap
on their size (what `GuardedH11Protocol` and h11 itself do for h11; uvicorn's httptools
protocol has neither); imported only when httptools is installed."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from entrypoints.config.settings import HttpLimits


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """A request's line and headers must arrive within `header_timeout_sec` of the connection
    (or of the last response on it), or the connection is closed."""

    header_timeout_sec = HttpLimits().header_timeout_sec
    # h11's own limit on a request's line and headers (h11.DEFAULT_MAX_INCOMPLETE_EVENT_SIZE).
    max_header_bytes = 16 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout_sec, self._too_slow)

    def _disarm(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        if getattr(self, "_header_timer", None) is not None:  # the headers are not all in
            end = data.find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else end + 4
            if self._header_bytes > self.max_header_bytes:
                self._disarm()
                self.send_400_response("Request line and headers too large.")
                return
        super().data_received(data)

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
