"""`webqueue schedule list|add|fire`: scheduled events from the command line, as an admin.

They write to the log directly (like `catalog refresh`), so they work whether the service runs
or not; the running service's firer carries a fire out (at once when it runs, at its next start
otherwise, within the too-late window). Times are shown in the channel's zone
(`[schedules] time_zone`); `--at` without an offset is that zone's wall time."""

from __future__ import annotations

import argparse
import sys

from entrypoints.config.settings import Settings


def add_schedule_parser(sub: argparse._SubParsersAction, common) -> None:  # type: ignore[type-arg, no-untyped-def]
    schedule = sub.add_parser("schedule", help="list, add or fire scheduled events")
    action = schedule.add_subparsers(dest="schedule_action", required=True, metavar="ACTION")
    listing = action.add_parser("list", help="the schedules and the coming week")
    common(listing, log=False)
    listing.add_argument("--channel", help="the channel (default lobby)")
    listing.add_argument("--days", type=float, default=7, help="how far ahead (default 7)")
    add = action.add_parser("add", help="schedule a saved playlist")
    common(add, log=False)
    add.add_argument("--channel", help="the channel (default lobby)")
    add.add_argument("--playlist", required=True, help="the playlist's name or id")
    add.add_argument("--label", required=True, help="what the event is called")
    add.add_argument("--at", required=True, help="fire time, e.g. 2026-11-20T20:00")
    add.add_argument("--lock-minutes", type=int, help="pre-fire lock (default from config)")
    add.add_argument("--fallback", help="a playlist (name or id) appended when it ends")
    add.add_argument("--rrule", help="an RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=FR")
    add.add_argument("--mutable", action="store_true", help="no event lock while it runs")
    fire = action.add_parser("fire", help="fire a schedule now")
    common(fire, log=False)
    fire.add_argument("--channel", help="the channel (default lobby)")
    fire.add_argument("schedule", help="the schedule's id (or its label)")


async def run_schedule(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.clock import WallClock
    from application.errors import NotFoundError
    from application.identity.roles import Identity
    from application.log.command_handler import CommandHandler
    from application.playlists.service import PlaylistService
    from application.schedules.service import ScheduleService
    from domain.errors import Rejected
    from entrypoints.bootstrap import open_log, open_read_models

    log_ = await open_log(settings)
    read_models = await open_read_models(settings)
    try:
        clock = WallClock()
        handler = CommandHandler(log_.events, clock)
        playlists = PlaylistService(handler, read_models, clock)
        config = settings.schedules
        service = ScheduleService(handler, playlists, clock, config=config, tz=config.zone)
        who = Identity("cli", "admin")
        channel = settings.channel

        async def playlist(ref: str) -> str:
            if len(ref) == 32 and all(c in "0123456789abcdef" for c in ref):
                return ref
            return await playlists.find(channel, who, ref)

        try:
            if args.schedule_action == "list":
                for s in await service.list(channel, who):
                    state = "on " if s.active else "off"
                    nxt = service.local(s.next_at) if s.next_at else "-"
                    print(
                        f"{s.schedule_id[:12]} {state} next {nxt:22} lock {s.lock_minutes:>3}m "
                        f"{s.label}" + (f"  [{s.rrule}]" if s.rrule else "")
                    )
                for o in await service.upcoming(channel, who, args.days):
                    print(
                        f"  {o.fire_at_local}  {o.label} (locked from {service.local(o.lock_from)})"
                    )
                return 0
            if args.schedule_action == "add":
                made = await service.create(
                    channel,
                    who,
                    playlist_id=await playlist(args.playlist),
                    label=args.label,
                    fire_at=args.at,
                    lock_minutes=args.lock_minutes,
                    fallback_playlist_id=await playlist(args.fallback) if args.fallback else None,
                    immutable=not args.mutable,
                    rrule=args.rrule,
                )
                nxt = service.local(made.next_at) if made.next_at else "nothing (in the past)"
                print(f"schedule {made.schedule_id} added: {made.label}, next {nxt}")
                return 0
            found = [
                s
                for s in await service.list(channel, who)
                if s.schedule_id.startswith(args.schedule) or s.label == args.schedule
            ]
            if len(found) != 1:
                print(f"webqueue: {len(found)} schedules match {args.schedule!r}", file=sys.stderr)
                return 1
            fired = await service.fire_now(channel, who, found[0].schedule_id)
            print(f"fired {fired.label} ({fired.fire_id}); the service carries it out")
            return 0
        except (Rejected, NotFoundError) as exc:
            print(f"webqueue: {exc.code}: {exc.message}", file=sys.stderr)
            return 1
    finally:
        await read_models.close()
        await log_.close()
