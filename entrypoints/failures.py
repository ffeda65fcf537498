"""How failures below the entrypoints are named to callers, the same over HTTP and NATS."""

from __future__ import annotations

#: A command lost every retry to concurrent writers on its stream.
BUSY = ("busy", "The queue changed too often to record this; nothing was changed, try again.")


class PeerUnavailable(Exception):
    """A peer the request needs (the robot, the economy) is known to be down: 503, nothing
    recorded, and `code` says which (`cytube_unavailable`, `economy_unavailable`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


CYTUBE_DOWN = "cytube_unavailable"
ECONOMY_DOWN = "economy_unavailable"
