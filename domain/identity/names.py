"""How identity names people: CyTube names are 1 to 20 letters, digits, `_` or `-`, and
case-insensitive, so every aggregate is keyed by the name lowercased and keeps the spelling it
was first given. The rule also keeps two names from sharing one log subject."""

from __future__ import annotations

import re
from typing import Final

from domain.errors import Rejected

NAME_MAX: Final = 20
_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")


def name_key(name: str) -> str:
    return name.strip().lower()


def name_problem(name: str) -> str | None:
    if not _NAME.fullmatch(name):
        return f"a CyTube name is 1 to {NAME_MAX} letters, digits, _ or -"
    return None


def check_name(name: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise Rejected("invalid_user", f"{problem.capitalize()}.")
