"""Limits on what a client may hold of the server: sockets, frames, slow headers.

Seen: 60 clients sending 16 MiB WebSocket frames (accepted, then ignored) pushed the service
from 200 MB to 1.4 GB, 660 MB of it kept after they left. Now:

- inbound WebSocket messages are capped at `ws_max_frame_bytes` (the live socket needs none
  from clients; uvicorn closes a socket that sends more with 1009 before buffering it);
- live sockets are capped per client address and in all (`WsLimits`): one over the limit is
  refused before it is accepted;
- HTTP connections in all are capped (uvicorn's `limit_concurrency`: 503 beyond it);
- a request's line and headers must arrive within `header_timeout_sec` (`GuardedH11Protocol`,
  and `GuardedHttpToolsProtocol` for uvicorn's httptools parser): uvicorn has no such timeout,
  so a client trickling a header a byte at a time held its connection for ever;
- an idle keep-alive connection closes after `keep_alive_timeout_sec`, and a live socket that
  answers no ping within `ws_ping_timeout_sec` (pinged every `ws_ping_interval_sec`) is closed:
  both set by `http_server`, not left to uvicorn's defaults.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from entrypoints.config.settings import HttpLimits


class WsLimits:
    """Live sockets held, by client address and in all."""

    def __init__(self, limits: HttpLimits) -> None:
        self._limits = limits
        self._by_ip: Counter[str] = Counter()
        self.total = 0

    def admit(self, ip: str) -> str | None:
        """Take a slot for `ip`; the reason it is refused, or None when it is admitted."""
        if self.total >= self._limits.ws_max_connections:
            return f"the server holds its {self._limits.ws_max_connections} live sockets"
        if self._by_ip[ip] >= self._limits.ws_max_per_ip:
            return f"{self._limits.ws_max_per_ip} live sockets from one address at most"
        self._by_ip[ip] += 1
        self.total += 1
        return None

    def release(self, ip: str) -> None:
        self._by_ip[ip] -= 1
        if self._by_ip[ip] <= 0:
            del self._by_ip[ip]
        self.total -= 1


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers."""

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

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and self.transport.get_protocol() is self:
            self.transport.close()


def httptools_available() -> bool:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return False
    return True


def guarded_protocol(limits: HttpLimits, parser: str = "auto") -> type[Any]:
    """uvicorn's HTTP protocol with the header deadline: `httptools` (C, llhttp), `h11` (pure
    Python), or `auto`: httptools when it is installed, else h11."""
    if parser == "auto":
        parser = "httptools" if httptools_available() else "h11"
    timeout = {"header_timeout_sec": limits.header_timeout_sec}
    if parser == "httptools":
        from entrypoints.http.limits_httptools import GuardedHttpToolsProtocol

        return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), timeout)
    if parser != "h11":
        raise ValueError(f"unknown HTTP parser {parser!r}: httptools, h11 or auto")
    return type("GuardedH11Protocol", (GuardedH11Protocol,), timeout)
