"""`webqueue`: serve the channel, rebuild the projections, print and replay the log."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from application.identity.rules import IdentityConfig
from application.log.intake import IntakeConfig
from entrypoints.cli.identity import add_identity_parsers, run_blessed, run_secret
from entrypoints.cli.replay import add_replay_parser, run_replay
from entrypoints.cli.token import add_token_parser, run_token
from entrypoints.config.settings import DEFAULT_DATA_DIR, Settings
from entrypoints.version import webqueue_version


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"must be 1 to 65535, got {value}")
    return number


def _common(parser: argparse.ArgumentParser, *, log: bool = True) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where the embedded log, read models and simulator live (default: ./.webqueue)",
    )
    if log:
        parser.add_argument(
            "--nats-url",
            help="NATS with JetStream to use; without it the data dir's embedded server is "
            "reused if running, else started",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webqueue", description="Event-sourced core of a CyTube channel's web queue."
    )
    parser.add_argument("--version", action="version", version=f"webqueue {webqueue_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the service (embedded default without --nats-url)")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="HTTP port (default 8080)")
    serve.add_argument("--channel", default="lobby", help="CyTube channel (default lobby)")
    serve.add_argument("--db", help="read-model database URL (default: SQLite in the data dir)")
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
        "--domain", default="cytu.be", help="CyTube domain the Kryten peers serve (default cytu.be)"
    )
    serve.add_argument(
        "--sim-speed",
        type=_positive,
        default=1.0,
        help="simulated seconds per real second (60: a real second plays a minute)",
    )
    serve.add_argument(
        "--max-lag",
        type=_positive_int,
        default=IntakeConfig().max_lag,
        help="commits the slowest follower may be behind before new commands wait, then get "
        f"503 busy (default {IntakeConfig().max_lag})",
    )
    serve.add_argument(
        "--admin",
        action="append",
        default=[],
        metavar="NAME",
        help="a CyTube name that is an admin whatever its rank (repeat for more; also "
        "WEBQUEUE_ADMINS, comma-separated)",
    )
    serve.add_argument(
        "--admin-rank",
        type=float,
        default=3.0,
        help="a CyTube rank at or above which a user in the channel is an admin (default 3, a "
        "channel admin; -1 turns ranks off)",
    )
    serve.add_argument("--title", help="the channel's name as the pages show it")
    serve.add_argument("--accent", default="#2454c5", help="the pages' accent colour (#rrggbb)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])

    rebuild = sub.add_parser("rebuild", help="drop the projections and replay them from the log")
    _common(rebuild)
    rebuild.add_argument("--db", help="read-model database URL (default: SQLite in the data dir)")

    events = sub.add_parser("events", help="print the log's commits as JSON lines")
    _common(events)
    events.add_argument("--channel", help="only this channel")
    events.add_argument("--follow", action="store_true", help="keep printing new commits")
    events.add_argument("--after", type=int, default=0, help="start after this log position")

    add_replay_parser(sub)
    add_token_parser(sub)
    add_identity_parsers(sub, _common)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    external = getattr(args, "nats_url", None) is not None
    cytube = getattr(args, "cytube", None) or ("kryten" if external else "sim")
    economy = getattr(args, "economy", None) or ("kryten" if external else "local")
    return Settings(
        data_dir=args.data_dir,
        host=getattr(args, "host", "127.0.0.1"),
        port=getattr(args, "port", 8080),
        channel=getattr(args, "channel", None) or "lobby",  # blessed and events take one too
        nats_url=getattr(args, "nats_url", None),
        economy=economy,
        domain=getattr(args, "domain", "cytu.be"),
        db_url=getattr(args, "db", None),
        cytube=cytube,
        sim_speed=getattr(args, "sim_speed", 1.0),
        log_level=getattr(args, "log_level", "info"),
        intake=IntakeConfig(max_lag=getattr(args, "max_lag", IntakeConfig().max_lag)),
        identity=_identity_config(args),
        channel_title=getattr(args, "title", None),
        accent=getattr(args, "accent", "#2454c5"),
    )


def _identity_config(args: argparse.Namespace) -> IdentityConfig:
    admins = list(getattr(args, "admin", []) or [])
    admins += [n for n in os.environ.get("WEBQUEUE_ADMINS", "").split(",") if n.strip()]
    rank = getattr(args, "admin_rank", 3.0)
    return IdentityConfig(admins=admins, admin_rank=None if rank is None or rank < 0 else rank)


async def _serve(settings: Settings) -> None:

    from entrypoints.http.server import http_server
    from entrypoints.serve import running, settle_heap

    async with running(settings) as served:
        services = served.services
        settle_heap()
        where = services.kernel.log.url + (" (embedded)" if services.kernel.log.server else "")
        print(
            f"webqueue {webqueue_version()}: channel {settings.channel!r}, log {where}, "
            f"read models {settings.database_url}, CyTube {settings.cytube}"
            + (f" at {settings.sim_speed:g}x" if settings.cytube == "sim" else ""),
            file=sys.stderr,
        )
        print(f"serving on http://{settings.host}:{settings.port}/", file=sys.stderr, flush=True)
        await http_server(services, log_level=settings.log_level).serve()


async def _rebuild(settings: Settings) -> None:
    """Every projection dropped and replayed from one read of the log (`rebuild_many`): each
    commit is read and decoded once and handed to every projection."""
    from application.projections.runner import ProjectionRunner, rebuild_many
    from entrypoints.bootstrap import open_log, open_read_models, projections
    from entrypoints.cli.progress import Progress

    log_ = await open_log(settings)
    read_models = await open_read_models(settings)
    try:
        runners = [ProjectionRunner(log_.events, read_models, p) for p in projections()]
        names = ", ".join(runner.projection.name for runner in runners)
        started = time.monotonic()
        applied = await rebuild_many(runners, Progress(f"rebuild {names}"))
        took = time.monotonic() - started
        for runner in runners:
            print(
                f"{runner.projection.name}: {applied} commits replayed in {took:.2f}s "
                f"({applied / max(took, 1e-9):,.0f}/s, one read of the log for all "
                f"{len(runners)}), now at position {runner.position}",
                file=sys.stderr,
            )
    finally:
        await read_models.close()
        await log_.close()


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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "token":
        return run_token(args)
    settings = _settings(args)
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            asyncio.run(_serve(settings))
        elif args.command == "rebuild":
            asyncio.run(_rebuild(settings))
        elif args.command == "blessed":
            return asyncio.run(
                run_blessed(settings, args.blessed_action, getattr(args, "user", None))
            )
        elif args.command == "secret":
            return run_secret(settings)
        elif args.command == "events":
            asyncio.run(_events(settings, args.channel, args.follow, args.after))
        elif args.command == "replay":
            return asyncio.run(run_replay(args))
    except KeyboardInterrupt:
        return 130
    except (OSError, RuntimeError) as exc:
        print(f"webqueue: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
