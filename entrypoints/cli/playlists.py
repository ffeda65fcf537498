"""`webqueue playlist list|apply NAME [--mode M] [--wait]|status [APPLY_ID]`.

The apply is recorded in the log as the operator (`cli`, the holder of the data dir, with an
admin's say over modes); the running service follows the log and carries it out, so `apply`
returns at once (`--wait` follows the progress until it ends). With no service running, the
apply waits in the log for the next one to start.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from entrypoints.config.settings import Settings


def add_playlist_parsers(sub: argparse._SubParsersAction, common) -> None:  # type: ignore[type-arg, no-untyped-def]
    playlist = sub.add_parser("playlist", help="list saved playlists, apply one to the queue")
    common(playlist)
    playlist.add_argument("--channel", default="lobby", help="the channel (default lobby)")
    action = playlist.add_subparsers(dest="playlist_action", required=True, metavar="ACTION")
    action.add_parser("list", help="saved playlists: name, items, applies")
    apply = action.add_parser("apply", help="apply a saved playlist to the queue")
    apply.add_argument("name", help="the playlist's name (case and spaces do not count) or id")
    apply.add_argument(
        "--mode",
        choices=("preserve_current", "append", "hard_replace"),
        default="preserve_current",
        help="preserve_current (default: keep now playing), append, or hard_replace",
    )
    apply.add_argument("--wait", action="store_true", help="follow the progress until it ends")
    status = action.add_parser("status", help="an apply's progress (default: the latest)")
    status.add_argument("apply_id", nargs="?", default=None)


class _NoCytube:
    """The CLI records an apply; it never talks to CyTube (the service does)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the CLI does not drive applies")


def _line(status: Any) -> str:
    return (
        f"{status.apply_id}\t{status.status}\t{status.playlist_name!r} ({status.mode})\t"
        f"{status.queued} queued, {status.failed} failed, {status.pending} to go"
    )


async def run_playlist(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.clock import WallClock
    from application.cytube.observing import Observer
    from application.errors import NotFoundError
    from application.identity.roles import Forbidden, Identity
    from application.log.command_handler import CommandHandler
    from application.playlists.apply import PlaylistApplier
    from application.playlists.service import PlaylistService
    from domain.errors import Rejected
    from entrypoints.bootstrap import open_log, open_read_models

    log_ = await open_log(settings)
    read = await open_read_models(settings)
    try:
        clock = WallClock()
        handler = CommandHandler(log_.events, clock)
        playlists = PlaylistService(handler, read, clock)
        applier = PlaylistApplier(
            handler,
            log_.events,
            _NoCytube(),  # type: ignore[arg-type]
            Observer(handler),
            clock,
            playlists,
            channels=[settings.channel],
            config=settings.playlists,
        )
        who = Identity("cli", "admin")
        channel = settings.channel
        try:
            if args.playlist_action == "list":
                for p in await playlists.list(channel, who, include_hidden=True):
                    last = p.last_applied_at.isoformat() if p.last_applied_at else "never"
                    print(
                        f"{p.playlist_id}\t{p.name}\t{p.item_count} items\t"
                        f"applied {p.apply_count}x, last {last}"
                    )
                return 0
            if args.playlist_action == "status":
                print(_line(await applier.status(channel, who, args.apply_id)))
                return 0
            name = args.name
            try:
                playlist_id = await playlists.find(channel, who, name)
            except NotFoundError:
                if not (await playlists.state(channel, name)).live:
                    raise
                playlist_id = name
            status = await applier.start(channel, who, playlist_id, args.mode, drive=False)
            print(_line(status))
            while args.wait and status.status == "running":
                await asyncio.sleep(1.0)
                status = await applier.status(channel, who, status.apply_id)
                print(_line(status), file=sys.stderr)
            if args.wait:
                for failure in status.failures:
                    print(
                        f"failed\t{failure.position}\t{failure.title or failure.media_id}\t"
                        f"{failure.reason}: {failure.detail}"
                    )
            return 0
        except (Rejected, NotFoundError, Forbidden) as exc:
            extra = getattr(exc, "extra", {}) or {}
            more = f" ({', '.join(f'{k}={v}' for k, v in extra.items())})" if extra else ""
            print(f"{exc.code}: {exc.message}{more}", file=sys.stderr)
            return 1
    finally:
        await read.close()
        await log_.close()
