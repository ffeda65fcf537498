"""`webqueue schedule add|list|fire` as an operator runs them beside the running service: a
weekly event added in the channel's wall time, the coming week listed, an overlap refused naming
both, and a fire from the shell carried out by the service (the playlist on the queue)."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.test_cli import CLI, Service, token
from tests.e2e.test_playlist_cli import saved


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "schedule", *args[:1], "--data-dir", str(data_dir), *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_schedule_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    svc = Service(data_dir, "--admin", "boss", "--sim-speed", "10")
    try:
        svc.wait_healthy()
        admin = {"authorization": f"Bearer {token(data_dir, 'boss', 'admin')}"}
        items = [
            {"media_type": "yt", "media_id": f"ev{n}", "title": f"Film {n}", "duration_sec": 600}
            for n in range(2)
        ]
        saved(svc, admin, "Friday Film", items)
        at = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        add = run(
            data_dir,
            "add",
            "--playlist",
            "friday film",
            "--label",
            "Film club",
            "--at",
            at,
            "--rrule",
            "FREQ=WEEKLY",
        )
        assert add.returncode == 0, add.stderr
        assert "Film club" in add.stdout
        clash = run(data_dir, "add", "--playlist", "friday film", "--label", "Other", "--at", at)
        assert clash.returncode == 1 and "schedule_overlap" in clash.stderr
        assert "Film club" in clash.stderr and "Other" in clash.stderr
        listed = run(data_dir, "list")
        assert listed.returncode == 0, listed.stderr
        assert "Film club" in listed.stdout and "[FREQ=WEEKLY]" in listed.stdout
        assert "locked from" in listed.stdout
        fired = run(data_dir, "fire", "Film club")
        assert fired.returncode == 0, fired.stderr
        deadline = time.monotonic() + 30
        while True:
            ids = [i["media"]["id"] for i in svc.queue()["items"]]
            playing = svc.queue()["now_playing"]
            now = [playing["item"]["media"]["id"]] if playing and playing["item"] else []
            if {"ev0", "ev1"} <= set(now + ids):
                break
            assert time.monotonic() < deadline, (now, ids)
            time.sleep(0.2)
        missing = run(data_dir, "fire", "no such schedule")
        assert missing.returncode == 1
    finally:
        svc.stop()
