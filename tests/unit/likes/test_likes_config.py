"""`[likes]` in the config file: read into the rules the decider uses, a bad value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.likes.model import LikeRules
from entrypoints.config.loader import ConfigError, load


def test_the_section_becomes_the_deciders_rules(tmp_path: Path) -> None:
    path = tmp_path / "webqueue.toml"
    path.write_text(
        "[likes]\nrate_limit = 2\nrate_window_seconds = 30\ndedupe_window_seconds = 0\n"
        "kv_mirror = false\n"
    )
    likes = load(path, env={}).likes
    assert likes.rules() == LikeRules(rate_limit=2, rate_window_sec=30, dedupe_window_sec=0)
    assert likes.kv_mirror is False


def test_the_defaults_are_usable_rules() -> None:
    assert load(None, env={}).likes.rules() == LikeRules()


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("rate_limit = 0", "likes.rate_limit = 0"),
        ("rate_window_seconds = 0", "likes.rate_window_seconds = 0"),
        ("dedupe_window_seconds = 99999999", "likes.dedupe_window_seconds = 99999999"),
        ("rate_limt = 3", "rate_limt"),
    ],
)
def test_a_bad_value_is_named(tmp_path: Path, line: str, named: str) -> None:
    path = tmp_path / "webqueue.toml"
    path.write_text(f"[likes]\n{line}\n")
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load(path, env={})
