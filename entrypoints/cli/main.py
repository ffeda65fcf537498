"""`webqueue`: serve the channel, rebuild the projections, print and replay the log."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from application.log.intake import IntakeConfig
from domain.names import InvalidName, channel_name
from entrypoints.cli.catalog import add_catalog_parser, run_catalog
from entrypoints.cli.identity import add_identity_parsers, run_blessed, run_secret
from entrypoints.cli.nats_options import ENV_ALLOW_OPEN, add_nats_options
from entrypoints.cli.playlists import add_playlist_parsers, run_playlist
from entrypoints.cli.replay import add_replay_parser, run_replay
from entrypoints.cli.schedules import add_schedule_parser, run_schedule
from entrypoints.cli.token import add_token_parser, run_token
from entrypoints.config.loader import ConfigError, load, mask_url
from entrypoints.config.settings import HttpLimits, Settings
from entrypoints.version import webqueue_version


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


def _whole(least: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {value}") from None
        if number < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return number

    return parse


_positive_int = _whole(1)
_count = _whole(0)


def _cytube_channel(value: str) -> str:
    try:
        return channel_name(value)
    except InvalidName as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _port(value: str) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"must be 1 to 65535, got {value}")
    return number


def _common(parser: argparse.ArgumentParser, *, log: bool = True) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML config file (default: $WEBQUEUE_CONFIG, else none); flags override it; "
        "see docs/configuration.md",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the embedded log, read models and simulator live (default: ./.webqueue)",
    )
    if log:
        parser.add_argument(
            "--nats-url",
            help="NATS with JetStream to use (a cluster: its servers, comma-separated); "
            "without it the data dir's embedded server is reused if running, else started",
        )
        parser.add_argument(
            "--replicas",
            type=int,
            help="copies of the stream and KV buckets JetStream keeps: 3 on a three-node "
            "cluster (default 1)",
        )
        add_nats_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webqueue", description="Event-sourced core of a CyTube channel's web queue."
    )
    parser.add_argument("--version", action="version", version=f"webqueue {webqueue_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the service (embedded default without --nats-url)")
    _common(serve)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="HTTP port (default 8080)")
    serve.add_argument("--channel", type=_cytube_channel, help="CyTube channel (default lobby)")
    serve.add_argument("--db", help="read-model database URL (default: SQLite in the data dir)")
    serve.add_argument(
        "--lease-ttl",
        type=float,
        help="seconds a channel's lease lasts unrenewed: how soon another instance takes over "
        "the owner's work from one that died (default 10; the same on every instance)",
    )
    serve.add_argument(
        "--no-leases",
        dest="take_leases",
        action="store_const",
        const=False,
        help="never take a lease: serve HTTP, WebSockets and NATS commands only, while other "
        "instances run each channel's owner-only work and the projections",
    )
    serve.add_argument(
        "--workers",
        type=_count,
        help="run the projections and process managers in this many processes of their own "
        "(1 uses a second core; more are hot standbys), supervised by this one, which keeps "
        "HTTP, WebSockets, NATS commands and the simulated channel (default 0: all in this "
        "process)",
    )
    # Set by a `--workers` front on the command lines of its workers (entrypoints.workers):
    serve.add_argument("--worker-of", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--sim-in-front", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument(
        "--cytube",
        choices=["sim", "kryten"],
        help="who reports CyTube: the simulator (default without --nats-url) or Kryten-Robot "
        "(default with --nats-url)",
    )
    serve.add_argument(
        "--economy",
        choices=["local", "kryten"],
        help="who holds the currency: our own ledger (default without --nats-url) or "
        "kryten-economy (default with --nats-url)",
    )
    serve.add_argument(
        "--domain",
        help="CyTube domain the Kryten peers serve, as the robot has it (default cytu.be)",
    )
    serve.add_argument(
        "--sim-speed",
        type=_positive,
        help="simulated seconds per real second (60: a real second plays a minute)",
    )
    serve.add_argument(
        "--max-lag",
        type=_positive_int,
        help="commits the slowest follower may be behind before new commands wait, then get "
        f"503 busy (default {IntakeConfig().max_lag})",
    )
    serve.add_argument(
        "--admin",
        action="append",
        metavar="NAME",
        help="a CyTube name that is an admin whatever its rank (repeat for more; also "
        "WEBQUEUE_ADMINS, comma-separated)",
    )
    serve.add_argument(
        "--admin-rank",
        type=float,
        help="a CyTube rank at or above which a user in the channel is an admin (default 3, a "
        "channel admin; -1 turns ranks off)",
    )
    serve.add_argument("--title", help="the channel's name as the pages show it")
    serve.add_argument("--accent", help="the pages' accent colour (#rrggbb)")
    serve.add_argument(
        "--ws-max-connections",
        type=_positive_int,
        help=f"live sockets held in all (default {HttpLimits().ws_max_connections})",
    )
    serve.add_argument(
        "--ws-max-per-ip",
        type=_positive_int,
        help="live sockets from one client address; behind a reverse proxy, have it send "
        f"X-Forwarded-For (default {HttpLimits().ws_max_per_ip})",
    )
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])

    rebuild = sub.add_parser("rebuild", help="drop the projections and replay them from the log")
    _common(rebuild)
    rebuild.add_argument("--db", help="read-model database URL (default: SQLite in the data dir)")
    rebuild.add_argument(
        "--only", metavar="NAMES", help="only these projections, comma-separated (default: all)"
    )
    rebuild.add_argument(
        "--jobs",
        type=_positive_int,
        help="processes to rebuild in, each with a group of projections of about equal cost "
        "(default 1: all in this process, one read of the log for all)",
    )

    events = sub.add_parser("events", help="print the log's commits as JSON lines")
    _common(events)
    events.add_argument("--channel", help="only this channel")
    events.add_argument("--follow", action="store_true", help="keep printing new commits")
    events.add_argument("--after", type=int, default=0, help="start after this log position")

    audit = sub.add_parser(
        "audit",
        help="the money audit: the queue's facts joined to the wallet's; exit 1 on a finding",
    )
    _common(audit)
    audit.add_argument("--channel", help="the channel (default: the configured one)")
    audit.add_argument(
        "--stuck-after",
        type=_positive_int,
        default=600,
        help="seconds a purchase may stay paying, cancelling or being placed (default 600)",
    )
    audit.add_argument("--format", choices=["text", "json"], default="text")

    config = sub.add_parser("config", help="the effective configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_sub.add_parser(
        "show", help="print the effective settings as TOML (secrets masked), then exit"
    )
    _common(show)
    show.add_argument("--channel", help="as `serve --channel`")
    show.add_argument("--db", help="as `serve --db`")
    show.add_argument("--cytube", choices=["sim", "kryten"])
    show.add_argument("--economy", choices=["local", "kryten"])

    add_replay_parser(sub)
    add_token_parser(sub)
    add_identity_parsers(sub, _common)
    add_playlist_parsers(sub, _common)
    add_catalog_parser(sub, _common)
    add_schedule_parser(sub, _common)
    return parser


#: Flag (argparse dest) -> settings key; a flag given wins over the file and the environment.
FLAGS = {
    "data_dir": "data_dir",
    "host": "host",
    "port": "port",
    "channel": "channel",
    "nats_url": "nats_url",
    "db": "db_url",
    "cytube": "cytube",
    "economy": "economy",
    "domain": "domain",
    "sim_speed": "sim_speed",
    "log_level": "log_level",
    "max_lag": "intake.max_lag",
    "title": "channel_title",
    "accent": "accent",
    "admin": "identity.admins",
    "nats_creds": "nats_creds",
    "replicas": "replicas",
    "lease_ttl": "lease_ttl",
    "take_leases": "take_leases",
    "workers": "workers",
    "ws_max_connections": "http_limits.ws_max_connections",
    "ws_max_per_ip": "http_limits.ws_max_per_ip",
}


def _flags(args: argparse.Namespace) -> dict[str, object]:
    given: dict[str, object] = {}
    for dest, key in FLAGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        value = str(value) if isinstance(value, Path) else value
        *sections, name = key.split(".")
        table = given
        for section in sections:
            table = table.setdefault(section, {})  # type: ignore[assignment]
        table[name] = value
    return given


def _identity_flags(args: argparse.Namespace, given: dict[str, object]) -> None:
    """`--admin-rank -1` turns ranks off (the setting's None)."""
    rank = getattr(args, "admin_rank", None)
    if rank is not None:
        identity = given.setdefault("identity", {})
        assert isinstance(identity, dict)
        identity["admin_rank"] = None if rank < 0 else rank


def _settings(args: argparse.Namespace) -> Settings:
    """Defaults < the config file < the environment < the flags given (docs/configuration.md)."""
    flags = _flags(args)
    _identity_flags(args, flags)
    if getattr(args, "allow_open_nats", False) or os.environ.get(ENV_ALLOW_OPEN, "") in (
        "1",
        "true",
        "yes",
    ):
        flags["allow_open_nats"] = True
    return load(getattr(args, "config", None), env=os.environ, flags=flags)


async def _serve(
    settings: Settings,
    argv: Sequence[str] = (),
    worker_of: int | None = None,
    sim_in_front: bool = False,
) -> None:
    import attrs

    from entrypoints.http.server import http_server
    from entrypoints.serve import reap_leftovers, running, settle_heap
    from entrypoints.workers import Workers, reach, watch_front

    front, workers = settings, settings.workers
    if workers:
        settings = attrs.evolve(settings, take_leases=False)  # the workers take them
    async with running(settings, sim_in_front=sim_in_front) as served:
        services = served.services
        settle_heap()
        # Both URLs may carry a password (WEBQUEUE_DB_URL usually does): masked, as this line
        # goes to the journal.
        where = mask_url(services.kernel.log.url)
        where += " (embedded)" if services.kernel.log.server else ""
        print(
            f"webqueue {webqueue_version()}: channel {settings.channel!r}, log {where}, "
            f"read models {mask_url(settings.database_url)}, CyTube {settings.cytube}"
            + (f" at {settings.sim_speed:g}x" if settings.cytube == "sim" else "")
            + (" (the front's, over NATS)" if sim_in_front else ""),
            file=sys.stderr,
        )
        print(f"serving on http://{settings.host}:{settings.port}/", file=sys.stderr, flush=True)
        server = http_server(services, log_level=settings.log_level)
        pool = None
        if workers:
            server_ = services.kernel.log.server
            creds = server_.credentials_file() if server_ is not None and server_.auth else None
            pool = Workers(front, argv, reach(front, services.kernel.log.url, creds))
        if pool is not None:
            pool.start()
            services.workers = pool
        watcher = None
        if worker_of is not None:
            watcher = asyncio.create_task(
                watch_front(worker_of, lambda: setattr(server, "should_exit", True))
            )
        try:
            await server.serve()
        finally:
            if watcher is not None:
                watcher.cancel()
            if pool is not None:
                await pool.stop()  # before the rest closes: they drain and give back the leases
    await reap_leftovers()


def _json_line(stored: object, codec: object) -> bytes:
    from adapters.log.codec import Codec
    from application.log.ports import StoredCommit

    assert isinstance(stored, StoredCommit) and isinstance(codec, Codec)
    c = stored.commit
    return msgspec.json.encode(
        {
            "position": stored.position,
            "commit_id": c.commit_id,
            "channel": c.stream.channel,
            "aggregate": c.stream.aggregate,
            "aggregate_id": c.stream.id,
            "version": c.version,
            "at": c.at,
            "actor": c.actor,
            "causation_id": c.causation_id,
            "correlation_id": c.correlation_id,
            "events": [codec.encode_event(e) for e in c.events],
        }
    )


async def _events(settings: Settings, channel: str | None, follow: bool, after: int) -> None:
    from entrypoints.bootstrap import open_log

    log_ = await open_log(settings)
    codec = log_.codec
    out = sys.stdout.buffer
    try:
        reader = log_.events.subscribe if follow else log_.events.read_all
        async for stored in reader(after=after, channel=channel):
            out.write(_json_line(stored, codec) + b"\n")
            out.flush()
    except BrokenPipeError:
        pass
    finally:
        await log_.close()


async def _audit(settings: Settings, channel: str | None, stuck_after: int, fmt: str) -> int:
    from datetime import timedelta

    from adapters.clock import WallClock
    from application.log.ports import StoredCommit
    from application.pay.audit import audit_commits
    from entrypoints.bootstrap import open_log

    name = channel or settings.channel
    log_ = await open_log(settings)
    try:
        commits: list[StoredCommit] = [c async for c in log_.events.read_all(channel=name)]
    finally:
        await log_.close()
    # Commits carry channel time, which runs ahead of the wall under a fast simulator.
    now = max([WallClock().now(), *(c.commit.at for c in commits[-1:])])
    report = audit_commits(name, commits, now, timedelta(seconds=stuck_after))
    if fmt == "json":
        print(msgspec.json.encode(report.to_builtins()).decode())
    else:
        print(_audit_text(report))
    return 0 if report.ok else 1


def _audit_text(report: object) -> str:
    from application.pay.audit import AuditReport

    assert isinstance(report, AuditReport)
    t = report.totals()
    lines = [
        f"audit of {report.channel}: {report.commits:,} commits, {t['purchases']:,} purchases; "
        f"captured {t['captured']:,} = refunded {t['refunded']:,} + kept {t['kept']:,}; "
        f"{t['played']:,} played; wallet facts "
        + ("in the log" if report.wallet_in_log else "not in the log (kryten-economy)"),
        "",
        f"{'user':<20} {'buys':>5} {'captured':>9} {'refunded':>9} {'kept':>8} "
        f"{'w.debit':>8} {'w.refund':>8} {'balance':>8}",
    ]
    for u in sorted(report.users.values(), key=lambda u: u.user):
        balance = "-" if u.balance is None else f"{u.balance:,}"
        lines.append(
            f"{u.user:<20} {u.purchases:>5} {u.captured:>9,} {u.refunded:>9,} {u.kept:>8,} "
            f"{u.wallet_debited:>8,} {u.wallet_refunded:>8,} {balance:>8}"
        )
    lines.append("")
    if report.ok:
        lines.append("ok: no finding")
    else:
        lines.append(f"{len(report.findings)} finding(s):")
        for f in report.findings:
            who = " ".join(x for x in (f.request_id or "", f.user or "") if x)
            lines.append(f"  {f.kind}: {who}: {f.detail}")
    return "\n".join(lines)


def _mark_log_lines(mark: str) -> None:
    """Every log line of this process begins with `mark`, whichever formatter prints it (the
    HTTP server sets up its own): a worker's lines share its front's journal."""
    make = logging.getLogRecordFactory()

    def marked(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = mark + record.msg
        return record

    logging.setLogRecordFactory(marked)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "token":
        return run_token(args)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"webqueue: bad configuration, not starting: {exc}", file=sys.stderr)
        return 2
    if args.command == "config":
        from entrypoints.config.show import render

        print(render(settings, path=getattr(args, "config", None), env=os.environ), end="")
        return 0
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "worker", None) is not None:
        _mark_log_lines(f"[worker {args.worker}] ")
    try:
        if args.command == "serve":
            from entrypoints.workers import WorkersRefused, check

            try:
                check(settings)
            except WorkersRefused as exc:
                print(f"webqueue: not starting: {exc}", file=sys.stderr)
                return 2
            argv_now = list(sys.argv[1:] if argv is None else argv)
            asyncio.run(_serve(settings, argv_now, args.worker_of, args.sim_in_front))
        elif args.command == "rebuild":
            from entrypoints.cli.rebuild import rebuild

            argv_now = list(sys.argv[1:] if argv is None else argv)
            return asyncio.run(rebuild(settings, args.only, args.jobs, argv_now))
        elif args.command == "blessed":
            return asyncio.run(
                run_blessed(settings, args.blessed_action, getattr(args, "user", None))
            )
        elif args.command == "playlist":
            return asyncio.run(run_playlist(settings, args))
        elif args.command == "secret":
            return run_secret(settings)
        elif args.command == "events":
            asyncio.run(_events(settings, args.channel, args.follow, args.after))
        elif args.command == "catalog":
            return asyncio.run(
                run_catalog(settings, args.catalog_action, full=getattr(args, "full", False))
            )
        elif args.command == "schedule":
            return asyncio.run(run_schedule(settings, args))
        elif args.command == "replay":
            return asyncio.run(run_replay(args))
        elif args.command == "audit":
            return asyncio.run(_audit(settings, args.channel, args.stuck_after, args.format))
    except KeyboardInterrupt:
        return 130
    except (OSError, RuntimeError) as exc:
        print(f"webqueue: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
