"""`webqueue config show`: the effective settings as TOML, secrets masked.

The output is itself a valid config file (every key, defaults included), so an operator can
start from it. Passwords in URLs and secret fields are replaced by `********`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import tomli_w

from adapters.identity.tokens import SECRET_ENV
from entrypoints.config.loader import CONFIG_ENV, ENVIRONMENT, unstructure
from entrypoints.config.settings import Settings


def render(settings: Settings, *, path: Path | None, env: Mapping[str, str]) -> str:
    used = [name for name in ENVIRONMENT if env.get(name)]
    source = path or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    secret = f"from {SECRET_ENV}" if env.get(SECRET_ENV) else f"{settings.data_dir}/secret.key"
    lines = [
        "# webqueue: the effective configuration (defaults < config file < environment < flags)",
        f"# config file: {source if source else 'none'}",
        f"# from the environment: {', '.join(used) if used else 'nothing'}",
        f"# token secret: {secret} (never shown)",
        "# keys not listed are not set (nats_url, db_url: embedded server, SQLite in data_dir)",
        "",
    ]
    return "\n".join(lines) + tomli_w.dumps(unstructure(settings))
