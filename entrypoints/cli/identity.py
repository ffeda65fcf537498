"""`webqueue blessed list|add|remove NAME` and `webqueue secret rotate`.

The blessed list is written to the log as the operator (`cli`), the holder of the data dir and
so of its secret; a running service sees the change at once (it follows the log). Rotating the
secret takes effect when the service next starts; tokens and codes made with the old one keep
working (docs/identity.md).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from adapters.identity.tokens import rotate_secret
from entrypoints.config.settings import Settings


def add_identity_parsers(sub: argparse._SubParsersAction, common) -> None:  # type: ignore[type-arg, no-untyped-def]
    blessed = sub.add_parser("blessed", help="show or change the blessed list")
    common(blessed)
    blessed.add_argument("--channel", default="lobby", help="the channel (default lobby)")
    action = blessed.add_subparsers(dest="blessed_action", required=True, metavar="ACTION")
    action.add_parser("list", help="who is blessed, by whom and when")
    for name, what in (("add", "bless a user"), ("remove", "take a user off the list")):
        one = action.add_parser(name, help=what)
        one.add_argument("user", help="the CyTube name")
    secret = sub.add_parser("secret", help="rotate the secret that signs tokens")
    common(secret, log=False)
    secret.add_subparsers(dest="secret_action", required=True, metavar="ACTION").add_parser(
        "rotate", help="a new secret; the old one still verifies what it signed"
    )


def run_secret(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    rotate_secret(settings.data_dir)
    print(
        f"new secret in {settings.data_dir / 'secret.key'}; the previous one is kept in "
        f"{settings.data_dir / 'secret.previous'}. Restart the service to sign with it.",
        file=sys.stderr,
    )
    return 0


async def run_blessed(settings: Settings, action: str, user: str | None) -> int:
    from adapters.clock import WallClock
    from application.log.command_handler import CommandHandler, CommandMeta
    from application.log.streams import blessed_stream
    from domain.errors import Rejected
    from domain.identity.blessed import Bless, Unbless, blessed_decider
    from entrypoints.bootstrap import open_log

    log_ = await open_log(settings)
    try:
        handler = CommandHandler(log_.events, WallClock())
        stream = blessed_stream(settings.channel)
        if action in ("add", "remove"):
            assert user is not None
            command = Bless(user, "cli") if action == "add" else Unbless(user, "cli")
            try:
                await handler.handle(blessed_decider, stream, command, CommandMeta.new("cli"))
            except Rejected as exc:
                print(f"{exc.code}: {exc.message}", file=sys.stderr)
                return 1
        state = await handler.state(blessed_decider, stream)
        for entry in sorted(state.users.values(), key=lambda e: e.user.lower()):
            at = entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"{entry.user}\tby {entry.by}\t{at}")
        if not state.users:
            print(
                f"nobody is blessed on {settings.channel} ({datetime.now(UTC):%H:%M} UTC)",
                file=sys.stderr,
            )
        return 0
    finally:
        await log_.close()
