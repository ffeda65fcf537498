"""`webqueue replay`: every event of the log, one row each, as NDJSON or CSV, for analysts.

Rows (`position, at, channel, aggregate, aggregate_id, commit_id, version, actor, type, v, data`)
come in log order, each event once, up to the log head as it was when the replay started. With
rows going to a file or a pipe and stderr on a terminal, a progress bar shows on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import msgspec

from application.log.replay import (
    COLUMNS,
    BadReplayQuery,
    EventRow,
    ReplayQuery,
    check_types,
    last_position,
    parse_log_point,
    replay_query,
    scan,
)
from entrypoints.cli.nats_options import add_nats_options, nats_settings
from entrypoints.config.settings import DEFAULT_DATA_DIR, Settings

_BUFFER = 1 << 16
CONNECT_WITHIN_SEC = 15.0


def _point(value: str) -> str:
    try:
        parse_log_point(value, "the value")
    except BadReplayQuery as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _event_type(value: str) -> str:
    try:
        check_types([value])
    except BadReplayQuery as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _channel(value: str) -> str:
    from adapters.log.subjects import token

    try:
        token(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def add_replay_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `replay` to a parser's subcommands; returns the `replay` parser."""
    replay = subparsers.add_parser(
        "replay",
        help="print every event of the log, one row each (NDJSON or CSV)",
        description="Print the log's events in order, one row per event: position, at, channel, "
        "aggregate, aggregate_id, commit_id, version, actor, type, v, data. Times are RFC 3339 "
        "with an offset (2026-11-20T21:03:04Z).",
    )
    where = replay.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help="the embedded log's data dir; its running server is reused, else one is started "
        "for the replay (default: ./.webqueue)",
    )
    where.add_argument("--nats-url", metavar="URL", help="NATS with JetStream to read instead")
    add_nats_options(replay)
    replay.add_argument("--channel", type=_channel, help="only this channel")
    replay.add_argument(
        "--since",
        type=_point,
        metavar="TIME|POSITION",
        help="commits at or after this time, or after this log position",
    )
    replay.add_argument(
        "--until",
        type=_point,
        metavar="TIME|POSITION",
        help="commits before this time, or up to and including this log position",
    )
    replay.add_argument(
        "--type",
        dest="types",
        action="append",
        type=_event_type,
        metavar="NAME",
        help="only events of this type (repeat it, or separate names by commas)",
    )
    replay.add_argument(
        "--format", choices=["ndjson", "csv"], default="ndjson", help="default ndjson"
    )
    replay.add_argument(
        "--output", "-o", type=Path, metavar="FILE", help="write here instead of stdout"
    )
    return replay


def _rfc3339(moment: datetime) -> str:
    return msgspec.json.encode(moment)[1:-1].decode()


class _Ndjson:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._encoder = msgspec.json.Encoder()

    def write(self, rows: list[EventRow]) -> None:
        self._out.write(self._encoder.encode_lines(rows))

    def close(self) -> None:
        self._out.flush()


class _Csv:
    """RFC 4180 rows (CRLF line ends, as the csv module writes them), `data` as compact JSON."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._chunk = io.StringIO()
        self._writer = csv.writer(self._chunk)
        self._writer.writerow(COLUMNS)

    def write(self, rows: list[EventRow]) -> None:
        for r in rows:
            self._writer.writerow(
                (
                    r.position,
                    _rfc3339(r.at),
                    r.channel,
                    r.aggregate,
                    r.aggregate_id,
                    r.commit_id,
                    r.version,
                    r.actor,
                    r.type,
                    r.v,
                    bytes(r.data).decode(),
                )
            )
        if self._chunk.tell() >= _BUFFER:
            self._drain()

    def _drain(self) -> None:
        self._out.write(self._chunk.getvalue().encode())
        self._chunk.seek(0)
        self._chunk.truncate()

    def close(self) -> None:
        self._drain()
        self._out.flush()


@contextlib.contextmanager
def _destination(path: Path | None) -> Iterator[BinaryIO]:
    if path is None:
        yield sys.stdout.buffer
        return
    with open(path, "wb", buffering=_BUFFER) as out:
        yield out


def _silence_stdout() -> None:
    """After a closed pipe, keep the interpreter's last flush of stdout from failing loudly."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _wants_progress(output: Path | None) -> bool:
    """A bar on a terminal's stderr, only when the rows are not going to that terminal too."""
    try:
        return sys.stderr.isatty() and (output is not None or not sys.stdout.isatty())
    except (AttributeError, ValueError):
        return False


async def run_replay(args: argparse.Namespace) -> int:
    """Run `webqueue replay` on parsed arguments; the exit status."""
    try:
        query = replay_query(
            channel=args.channel, since=args.since, until=args.until, types=args.types
        )
    except BadReplayQuery as exc:
        print(f"webqueue replay: {exc}", file=sys.stderr)
        return 2
    try:
        with _destination(args.output) as out:
            return await _replay(args, query, out)
    except BrokenPipeError:
        if args.output is None:
            _silence_stdout()
        return 0
    except OSError as exc:
        if args.output is not None and exc.filename == str(args.output):
            print(f"webqueue replay: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
        raise


async def _replay(args: argparse.Namespace, query: ReplayQuery, out: BinaryIO) -> int:
    from entrypoints.bootstrap import open_log
    from entrypoints.cli.progress import Progress

    settings = Settings(data_dir=args.data_dir, nats_url=args.nats_url, **nats_settings(args))
    if settings.nats_url is None:
        log_ = await open_log(settings)
    else:  # a one-off reader fails clearly rather than waiting for NATS forever
        try:
            log_ = await asyncio.wait_for(open_log(settings), CONNECT_WITHIN_SEC)
        except TimeoutError:
            raise RuntimeError(
                f"no answer from NATS at {settings.nats_url} within {CONNECT_WITHIN_SEC:g}s"
            ) from None
    writer = _Csv(out) if args.format == "csv" else _Ndjson(out)
    try:
        head = await log_.events.head()
        total = max(last_position(query, head) - query.after, 0)
        progress = Progress("replay") if _wants_progress(args.output) and total else None
        count = done = 0
        async with contextlib.aclosing(
            scan(log_.events, log_.codec.encode_event, query, head)
        ) as commits:
            async for scanned in commits:
                if scanned.rows:
                    writer.write(scanned.rows)
                    count += len(scanned.rows)
                if progress is not None:
                    done = scanned.position - query.after
                    progress(done, total)
        writer.close()
        if progress is not None:
            if done < total:  # the last commits were another channel's: finish the bar
                progress(total, total)
            print(f"replay: {count} events, log head {head}", file=sys.stderr)
    finally:
        await log_.close()
    return 0
