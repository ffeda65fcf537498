"""The options every subcommand that reads the log shares: how to sign in to NATS, and whether
an open server is acceptable. Secrets never go on the command line: a file or the environment."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

ENV_ALLOW_OPEN = "WEBQUEUE_ALLOW_OPEN_NATS"


def add_nats_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nats-creds",
        type=Path,
        metavar="FILE",
        help="credentials for --nats-url: a NATS .creds file, or JSON "
        '{"user", "password"} or {"token"} (or set WEBQUEUE_NATS_CREDS, or '
        "WEBQUEUE_NATS_USER/WEBQUEUE_NATS_PASSWORD, or WEBQUEUE_NATS_TOKEN)",
    )
    parser.add_argument(
        "--allow-open-nats",
        action="store_true",
        help="run even if the NATS server lets clients in without credentials (test servers "
        f"only; or set {ENV_ALLOW_OPEN}=1)",
    )


def nats_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields these options give."""
    allow = bool(getattr(args, "allow_open_nats", False))
    allow = allow or os.environ.get(ENV_ALLOW_OPEN, "") in ("1", "true", "yes")
    return {"nats_creds": getattr(args, "nats_creds", None), "allow_open_nats": allow}
