"""`webqueue token issue USER --role ROLE [--ttl DURATION]`: mint a bearer token offline.

It signs with the same secret the service uses (`WEBQUEUE_SECRET`, else the data dir's
`secret.key`), so the first admin token can be made before anyone can call the HTTP API. The token
is printed alone on the last line of stdout (`TOKEN=$(webqueue token issue alice --role admin)`);
what it is goes to stderr.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from adapters.identity.tokens import DEFAULT_TTL_SEC, MAX_TTL_SEC
from application.identity.roles import ROLES, user_problem
from entrypoints.config.settings import DEFAULT_DATA_DIR

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d{1,12})([smhdw]?)")


def parse_duration(value: str) -> int:
    """Seconds in `3600`, `90s`, `30m`, `12h`, `7d` or `2w`; at least 1 s, at most 365 days."""
    match = _DURATION.fullmatch(value.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a duration; use seconds or a number with s, m, h, d or w "
            "(3600, 30m, 12h, 7d)"
        )
    seconds = int(match[1]) * _UNITS[match[2] or "s"]
    if not 1 <= seconds <= MAX_TTL_SEC:
        raise argparse.ArgumentTypeError(
            f"{value!r} is out of range; a token lives 1 second to 365 days"
        )
    return seconds


def _user(value: str) -> str:
    problem = user_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def describe_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def add_token_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `token` (with `token issue`) to a parser's subcommands; returns the `token` parser."""
    token = subparsers.add_parser("token", help="issue bearer tokens for the HTTP API and NATS")
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    issue = actions.add_parser(
        "issue",
        help="sign a token for a user and role",
        description="Sign a token with the data dir's secret (or WEBQUEUE_SECRET). The token is "
        "the last line of stdout; a description goes to stderr.",
    )
    issue.add_argument("user", metavar="USER", type=_user, help="who the token names")
    issue.add_argument("--role", required=True, choices=ROLES, help="what the token may do")
    issue.add_argument(
        "--ttl",
        type=parse_duration,
        default=DEFAULT_TTL_SEC,
        metavar="DURATION",
        help="how long it lives: seconds, or 30m, 12h, 7d, 2w (default 30d, at most 365d)",
    )
    issue.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where the secret lives (default: ./.webqueue)",
    )
    return token


def run_token(args: argparse.Namespace) -> int:
    """Run `webqueue token ...` on parsed arguments; the exit status."""
    if args.token_command != "issue":
        print(f"webqueue token: unknown action {args.token_command!r}", file=sys.stderr)
        return 2
    try:
        from entrypoints.bootstrap import token_signer

        signer = token_signer(args.data_dir)
        token, expires_at = signer.issue(
            args.user, args.role, ttl_sec=args.ttl, now=datetime.now(UTC)
        )
    except (ValueError, OSError) as exc:
        print(f"webqueue token: {exc}", file=sys.stderr)
        return 1
    print(
        f"token for {args.user!r} as {args.role}, expires {expires_at:%Y-%m-%d %H:%M:%S} UTC "
        f"(in {describe_duration(args.ttl)})",
        file=sys.stderr,
    )
    print(token, flush=True)
    return 0
