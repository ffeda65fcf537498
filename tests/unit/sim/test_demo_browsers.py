"""DemoBrowsers: which browser demo-joined which name, kept as token hashes on disk."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from adapters.sim.browsers import DemoBrowsers
from application.errors import StorageUnavailable


def test_a_name_is_the_browser_that_joined_it_last(tmp_path: Path) -> None:
    browsers = DemoBrowsers(tmp_path / "browsers.json")
    first, second = DemoBrowsers.new_token(), DemoBrowsers.new_token()
    assert first != second and len(first) >= 40
    browsers.bind(first, "Alice")
    assert browsers.holds(first, "alice") and browsers.holds(first, "ALICE")
    assert not browsers.holds(second, "alice") and not browsers.holds(None, "alice")
    assert not browsers.holds(first, "bob") and not browsers.held("bob")
    browsers.bind(second, "alice")  # the name left and someone else joined it: theirs now
    assert browsers.holds(second, "alice") and not browsers.holds(first, "alice")


def test_a_restart_keeps_the_bindings_and_the_file_holds_no_token(tmp_path: Path) -> None:
    path = tmp_path / "sim" / "browsers.json"
    token = DemoBrowsers.new_token()
    DemoBrowsers(path).bind(token, "alice")
    assert DemoBrowsers(path).holds(token, "alice")
    assert token not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_write_the_disk_refuses_changes_nothing(tmp_path: Path) -> None:
    browsers = DemoBrowsers(tmp_path / "browsers.json")
    kept = DemoBrowsers.new_token()
    browsers.bind(kept, "alice")
    (tmp_path / "browsers.json.tmp").mkdir()  # the next write cannot be made (root too)
    with pytest.raises(StorageUnavailable):
        browsers.bind(DemoBrowsers.new_token(), "alice")
    assert browsers.holds(kept, "alice")
    assert DemoBrowsers(tmp_path / "browsers.json").holds(kept, "alice")
