"""Command lines passed on to a child process (the rebuild's groups, the serve's workers)."""

from __future__ import annotations

from collections.abc import Collection, Sequence


def without(argv: Sequence[str], valued: Collection[str], bare: Collection[str] = ()) -> list[str]:
    """`argv` less the flags named: those in `valued` with their value (`--port 80` or
    `--port=80`), those in `bare` alone (`--no-leases`)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name, eq, _ = arg.partition("=")
        if name in valued:
            skip = not eq
            continue
        if arg in bare:
            continue
        kept.append(arg)
    return kept
