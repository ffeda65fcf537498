"""Every key an operator can set is on docs/configuration.md, in its section: a key added to
`Settings` without a line there fails here, not in an operator's hands."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import attrs

from entrypoints.config.settings import Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def keys(cls: type[Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    hints = typing.get_type_hints(cls)
    found: list[tuple[str, ...]] = []
    for f in attrs.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        if isinstance(tp, type) and attrs.has(tp):
            found += keys(tp, (*prefix, f.name))
        else:
            found.append((*prefix, f.name))
    return found


def sections(text: str) -> dict[str, str]:
    """The text under each "`[name]`: ..." heading, up to the next one; "" is the top level."""
    parts: dict[str, str] = {}
    name, start = "", 0
    for match in re.finditer(r"^`\[([a-z_.]+)\]`", text, flags=re.MULTILINE):
        parts[name] = parts.get(name, "") + text[start : match.start()]
        name, start = match.group(1), match.start()
    parts[name] = parts.get(name, "") + text[start:]
    return parts


def test_every_settings_key_is_documented_in_its_section() -> None:
    documented = sections(DOC.read_text())
    missing = []
    for path in keys(Settings):
        cut = max((n for n in range(len(path)) if ".".join(path[:n]) in documented), default=0)
        section, key = ".".join(path[:cut]), ".".join(path[cut:])
        if f"`{key}`" not in documented[section] and f"`{key}." not in documented[section]:
            missing.append(".".join(path))
    assert not missing, f"not on docs/configuration.md: {missing}"


def test_the_walk_sees_nested_sections() -> None:
    # A walk that missed sections would pass the test above with nothing checked.
    found = {".".join(k) for k in keys(Settings)}
    assert {"identity.otp.ttl_sec", "promos.general.every_n_items", "nats_url"} <= found
    assert len(found) > 100
