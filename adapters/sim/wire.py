"""What a `--workers` front and its workers say to each other about the simulated channel,
on the front's NATS: the CyTube port's calls (`…port`), and the virtual clock's state
(`adapters.clock.ClockState`: `…clock` asked, `…clock.changed` told), so a worker's pay flow
and timers act on the channel and the time the front's simulator keeps (adapters.sim.bridge
serves them, adapters.sim.remote calls them).

Only the service's own NATS user may use `wq.sim.>`; command users cannot (the embedded
server's permissions), so nobody else drives the simulator this way.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from adapters.log.subjects import token
from domain.media import Media

Method = Literal["add", "delete", "move", "playlist", "read", "user", "pm", "snapshot"]


def subjects(stream: str, channel: str) -> tuple[str, str, str]:
    """The port's, the clock's and the clock change's subjects of one service's channel."""
    base = f"wq.sim.{token(stream)}.{token(channel)}"
    return f"{base}.port", f"{base}.clock", f"{base}.clock.changed"


class PortCall(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    method: Method
    channel: str
    media: Media | None = None
    pos: Literal["end", "next"] = "end"
    temp: bool = False
    uid: int = 0
    after: int | Literal["prepend", "append"] = "append"
    name: str = ""
    message: str = ""


class PortReply(msgspec.Struct, frozen=True):
    """`value` the method's answer (JSON); `unavailable` set when the call raised
    CytubeUnavailable there, with its message in `error`."""

    value: msgspec.Raw = msgspec.Raw(b"null")
    unavailable: bool = False
    error: str | None = None
