"""The `[rules]` section of the config file: read into the rules a channel starts with, and a
bad value refused at start, naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.rules.config import BlockedMedia, BlockedUser, RulesConfig
from entrypoints.config.loader import ConfigError, load
from entrypoints.config.settings import Settings

SECTION = """
[rules]
max_pending_per_viewer = 3
exempt_roles = ["admin"]
exempt_min_rank = 2
max_length_sec = 900
max_queue_pending_minutes = 120.5
cooldown_minutes = 5
no_repeat_hours = 6
fair_order = true
blocked_media = [{ media_type = "yt", media_id = "dQw4w9WgXcQ", reason = "not again" }]
blocked_users = [{ user = "troll", reason = "spam" }]
"""


def test_the_section_is_read(tmp_path: Path) -> None:
    path = tmp_path / "webqueue.toml"
    path.write_text(SECTION)
    assert load(path, env={}).rules == RulesConfig(
        max_pending_per_viewer=3,
        exempt_roles=("admin",),
        exempt_min_rank=2,
        max_length_sec=900,
        max_queue_pending_minutes=120.5,
        cooldown_minutes=5,
        no_repeat_hours=6,
        fair_order=True,
        blocked_media=(BlockedMedia("yt", "dQw4w9WgXcQ", "not again"),),
        blocked_users=(BlockedUser("troll", "spam"),),
    )
    assert Settings().rules.max_pending_per_viewer == 2  # the default


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[rules]\nmax_pending_per_viewer = 0", "max_pending_per_viewer"),
        ("[rules]\nmin_length_sec = 100\nmax_length_sec = 50", "max_length_sec"),
        ("[rules]\nexempt_roles = ['owner']", "exempt_roles"),
        ("[rules]\nexempt_min_rank = 300", "exempt_min_rank"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "webqueue.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    assert info.value.key.endswith(key), info.value.key
