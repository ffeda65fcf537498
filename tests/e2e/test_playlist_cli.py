"""`webqueue playlist apply` as an operator runs it beside a running service: recorded in the
log, carried out by the service, followed with --wait; refusals say why."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.test_cli import CLI, Service, token


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "playlist", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def saved(svc: Service, who: dict[str, str], name: str, items: list[dict[str, Any]]) -> None:
    """A playlist saved over HTTP, as an editor would before turning to the shell."""
    made = svc.http.post(
        "/api/v1/channels/lobby/playlists", json={"name": name, "items": items}, headers=who
    )
    assert made.status_code == 201, made.text


def test_apply_a_playlist_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    svc = Service(data_dir, "--admin", "boss", "--sim-speed", "10")
    try:
        svc.wait_healthy()
        admin = {"authorization": f"Bearer {token(data_dir, 'boss', 'admin')}"}
        items = [
            {"media_type": "yt", "media_id": f"cli{n}", "title": f"CLI {n}", "duration_sec": 60}
            for n in range(3)
        ]
        saved(svc, admin, "From The Shell", items)
        done = run(data_dir, "apply", "from the shell", "--mode", "append", "--wait")
        assert done.returncode == 0, done.stderr
        assert "done" in done.stderr.splitlines()[-1] and "3 queued" in done.stderr
        ids = [i["media"]["id"] for i in svc.queue()["items"]]
        assert [i for i in ids if i.startswith("cli")] == ["cli0", "cli1", "cli2"]
        missing = run(data_dir, "apply", "no such list")
        assert missing.returncode == 1 and "unknown_playlist" in missing.stderr
        status = run(data_dir, "status")
        assert status.returncode == 0 and "'From The Shell' (append)" in status.stdout
        listed = run(data_dir, "list")
        assert "From The Shell\t3 items\tapplied" in listed.stdout
    finally:
        svc.stop()
