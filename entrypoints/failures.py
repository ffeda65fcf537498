"""How failures below the entrypoints are named to callers, the same over HTTP and NATS."""

from __future__ import annotations

#: A command lost every retry to concurrent writers on its stream.
BUSY = ("busy", "The queue changed too often to record this; nothing was changed, try again.")
