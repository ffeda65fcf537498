"""How failures below the entrypoints are named to callers, the same over HTTP and NATS."""

from __future__ import annotations

from application.log.ports import CommitTooLarge

TOO_LARGE = "too_large"
#: The log refused a write for want of storage (StoreFull): a 503 that says so, nothing changed.
LOG_FULL = "log_full"


def too_large_message(exc: CommitTooLarge) -> str:
    return (
        f"This change would be recorded as {exc.size:,} bytes, more than the log takes in one "
        f"message ({exc.limit:,}); nothing was changed. Send it in smaller parts."
    )


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
