"""`--nats-url` names one server or several: a cluster's seeds, comma-separated."""

from __future__ import annotations


def server_urls(url: str) -> list[str]:
    """The servers in `url`, in order; nats-py tries them all and learns the rest of a
    cluster from whichever answers."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError(f"no NATS server in {url!r}")
    return servers
