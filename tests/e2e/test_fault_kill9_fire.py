"""kill -9 of the service in the middle of a scheduled event's load, then a restart on the
same data dir.

The service runs as a real subprocess over the simulated channel. A viewer's purchase is in
place; an admin fires a schedule whose playlist has 40 items (the event's hard-replace clears
the queue, refunding the purchase, then loads the items paced). Once some of them are on the
playlist, the process is killed with SIGKILL. After the restart the load resumes from the log
and the channel alone: it ends with each of the 40 items on the playlist once, the one fire
recorded once, the purchase refunded once, and `webqueue audit` clean.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.e2e.test_cli import CLI, Service
from tests.e2e.test_fault_kill9_burst import bearer, read_log, wait_up

BASE = "/api/v1/channels/lobby"
ITEMS = 40
SPEED = "10"  # the shared pacer's 2 s per add is 0.2 s: the load takes seconds, the kill lands
WITHIN = 180.0  # a hang detector, not a speed requirement


def until(check: Any, what: str, within: float = WITHIN) -> Any:
    deadline = time.monotonic() + within
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_kill_9_during_the_load_of_a_fire_resumes_it_once(data_dir: Path) -> None:
    svc = Service(data_dir, "--sim-speed", SPEED, "--admin", "boss")
    try:
        wait_up(svc)
        admin = bearer(data_dir, "boss", "admin")
        viewer = bearer(data_dir, "ann", "viewer")
        r = svc.http.post("/api/v1/sim/lobby/users", json={"name": "ann"}, headers=admin)
        assert r.status_code == 204, r.text
        r = svc.http.post(f"{BASE}/wallets/ann/grants", json={"amount": 100_000}, headers=admin)
        assert r.status_code == 201, r.text
        body = {
            "media_type": "yt",
            "media_id": "fakeFirePaid",
            "duration_sec": 600,
            "tier": "queue",
            "request_id": "fire-paid-1",
        }
        r = svc.http.post(f"{BASE}/pay-items", json=body, headers=viewer)
        assert r.status_code == 202, r.text

        def placed() -> bool:
            got = svc.http.get(f"{BASE}/pay-items/fire-paid-1", headers=admin).json()
            return got.get("status") in ("positioned", "playing")

        until(placed, "the purchase to be in place")
        items = [
            {
                "media_type": "yt",
                "media_id": f"fakeEvent{n:02d}",
                "title": f"Ep {n}",
                "duration_sec": 1800,
            }
            for n in range(ITEMS)
        ]
        r = svc.http.post(
            f"{BASE}/playlists", json={"name": "Marathon", "items": items}, headers=admin
        )
        assert r.status_code == 201, r.text
        pid = r.json()["playlist_id"]
        r = svc.http.post(
            f"{BASE}/schedules",
            json={"playlist_id": pid, "label": "Marathon", "fire_at": "2099-01-01T20:00"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        sid = r.json()["schedule_id"]
        r = svc.http.post(f"{BASE}/schedules/{sid}/fire", headers=admin)
        assert r.status_code == 202, r.text
        fire_id = r.json()["fire_id"]

        def loading() -> bool:
            r = svc.http.get(f"{BASE}/playlist-applies/{fire_id}", headers=admin)
            if r.status_code != 200:
                return False
            got = r.json()
            assert got["status"] == "running", f"the load ended before the kill: {got}"
            return bool(got["queued"] >= 5)

        until(loading, "the load to be under way", within=60)
        svc.proc.send_signal(signal.SIGKILL)
        assert svc.proc.wait(15) == -signal.SIGKILL
    finally:
        if svc.proc.poll() is None:
            svc.proc.kill()
            svc.proc.wait(15)

    at_kill = [e["type"] for c in read_log(data_dir) for e in c["events"]]
    assert at_kill.count("OccurrenceFired") == 1  # fired before the kill, the load under way

    again = Service(data_dir, "--sim-speed", SPEED, "--admin", "boss")
    try:
        wait_up(again)

        def done() -> dict[str, Any] | None:
            r = again.http.get(f"{BASE}/playlist-applies/{fire_id}", headers=admin)
            got = r.json() if r.status_code == 200 else {}
            return got if got.get("status") == "done" else None

        status = until(done, "the load to finish after the restart")
        assert (status["queued"], status["failed"]) == (ITEMS, 0), status
        sim = again.http.get("/api/v1/sim/lobby").json()
        on_playlist = Counter(i["media_id"] for i in sim["playlist"])
        assert all(c == 1 for c in on_playlist.values()), on_playlist  # nothing added twice
        # The event's items (each 30 min: none has ended yet), in order, and nothing else.
        assert [i["media_id"] for i in sim["playlist"]] == [
            f"fakeEvent{n:02d}" for n in range(ITEMS)
        ]
        assert "fakeFirePaid" not in on_playlist

        def refunded() -> bool:
            got = again.http.get(f"{BASE}/pay-items/fire-paid-1", headers=admin).json()
            return got["status"] == "refunded"

        until(refunded, "the displaced purchase's refund")
        fires = again.http.get(f"{BASE}/schedules/fires", headers=admin).json()["fires"]
        assert [f["fire_id"] for f in fires] == [fire_id]  # fired once
        commits = read_log(data_dir)
    finally:
        assert again.stop() == 0

    seen = pay_events_of(commits, "fire-paid-1")
    assert seen["queue:PayItemRefunded"] == seen["wallet:RequestRefunded"] == 1, seen
    assert seen["queue:PaymentCaptured"] == seen["wallet:RequestDebited"] == 1, seen
    fired = [e for c in commits for e in c["events"] if e["type"] == "OccurrenceFired"]
    assert len(fired) == 1
    audit = subprocess.run(
        [*CLI, "audit", "--data-dir", str(data_dir), "--channel", "lobby", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert audit.returncode == 0, audit.stdout[-2000:] + audit.stderr[-2000:]
    assert json.loads(audit.stdout)["findings"] == []


def pay_events_of(commits: list[dict[str, Any]], rid: str) -> Counter[str]:
    seen: Counter[str] = Counter()
    for c in commits:
        for e in c["events"]:
            got = e["data"].get("request_id")
            if got is not None and got.startswith("wq/lobby/"):
                got = got.split("/")[2]
            if got == rid:
                seen[f"{c['aggregate']}:{e['type']}"] += 1
    return seen
