"""`webqueue serve --workers 1` on the embedded default: the front keeps HTTP, the embedded
NATS server and the simulated channel; its worker runs the pay flow, presence and the
projections, commanding the front's simulator and following its virtual clock over NATS.

The worker is killed with SIGKILL in the middle of a burst of purchases: the front starts it
again, and every purchase comes to rest once, paid once, none captured by the front, with
`webqueue audit` clean over the log. Then the demo panel moves the clock a day on: the
worker's next decisions carry the front's new time, and a payer who leaves is refunded.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_cli import Service
from tests.e2e.test_fault_kill9_burst import (
    audited,
    bearer,
    is_between_items,
    pay_events,
    read_log,
    ready_buyers,
)
from tests.e2e.test_fault_workers import gone

WORKER = re.compile(r"worker 1 pid (\d+) up")
USERS = [f"wburst{i}" for i in range(4)]
REQUESTS = 40
KILL_AFTER = 12
AT_REST = ("positioned", "playing", "played", "refunded")
WITHIN = 120.0  # a hang detector, not a speed requirement


def purchase(n: int) -> dict[str, Any]:
    return {
        "media_type": "yt",
        "media_id": f"fakeWork{n:03d}",
        "duration_sec": 60 + 30 * (n % 4),
        "tier": "playnext" if n % 5 == 0 else "queue",
        "request_id": f"burst-req-{n:03d}",  # the shape tests.e2e.test_fault_kill9_burst reads
    }


def until(what: str, check: Any, within: float = WITHIN) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            got = check()
        except (httpx.TransportError, ValueError, KeyError):
            got = None
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"not {what} within {within:.0f} s")


def worker_pid(svc: Service) -> int | None:
    part = svc.http.get("/health").json()["parts"].get("workers", {})
    found = WORKER.search(part.get("detail") or "")
    return int(found.group(1)) if found and part.get("status") == "ok" else None


def captured_here(svc: Service) -> float:
    """Payments captured by this process's own pay flow, from its /metrics."""
    total = 0.0
    for line in svc.http.get("/metrics").text.splitlines():
        if line.startswith("webqueue_pay_outcomes_total{") and 'outcome="captured"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def buy(http: httpx.Client, n: int, who: dict[str, str]) -> httpx.Response | None:
    """One purchase, sent again while the answer says nothing is wrong with it (between two
    items, or no answer at all)."""
    for _ in range(100):
        try:
            r = http.post("/api/v1/channels/lobby/pay-items", json=purchase(n), headers=who)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if not is_between_items(r) and r.status_code not in (502, 503):
            return r
        time.sleep(0.05)
    return None


def test_kill_9_of_the_worker_on_the_embedded_default_loses_nothing(data_dir: Path) -> None:
    svc = Service(data_dir, "--workers", "1", "--sim-speed", "60", "--admin", "boss")
    first = second = None
    try:
        svc.wait_healthy(within=30)
        admin = bearer(data_dir, "boss", "admin")
        viewers = {u: bearer(data_dir, u, "viewer") for u in USERS}
        assert svc.http.get("/health").json()["leases"] == [], "the front took a lease"
        first = until("the worker up", lambda: worker_pid(svc))
        ready_buyers(svc, admin, USERS, 100_000)

        answers: dict[int, int] = {}
        lock = threading.Lock()
        killed = threading.Event()

        def send(n: int) -> None:
            with httpx.Client(base_url=str(svc.http.base_url), timeout=30) as http:
                r = buy(http, n, viewers[USERS[n % len(USERS)]])
            with lock:
                answers[n] = r.status_code if r is not None else 0
                accepted = sum(code == 202 for code in answers.values())
                if accepted >= KILL_AFTER and not killed.is_set():
                    os.kill(first, signal.SIGKILL)
                    killed.set()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(send, range(REQUESTS)))
        assert killed.is_set()
        assert Counter(answers.values()) == {202: REQUESTS}, answers

        second = until(
            "a new worker", lambda: (pid := worker_pid(svc)) not in (None, first) and pid
        )
        front_log = svc.log.read_text()
        assert f"(pid {first}) ended with signal SIGKILL" in front_log, front_log[-3000:]

        def at_rest() -> dict[str, dict[str, Any]] | None:
            got = {}
            for n in range(REQUESTS):
                rid = purchase(n)["request_id"]
                r = svc.http.get(f"/api/v1/channels/lobby/pay-items/{rid}", headers=admin)
                if r.status_code != 200 or r.json()["status"] not in AT_REST:
                    return None
                got[rid] = r.json()
            return got

        final = until("every purchase at rest", at_rest)
        assert captured_here(svc) == 0, "the front ran the pay flow"
        seen = pay_events(read_log(data_dir))
        assert set(seen) == set(final)
        for rid, events in seen.items():
            assert events["queue:PaymentCaptured"] == 1, (rid, events)
            assert events["queue:PayItemAttached"] <= 1, (rid, events)
            assert events["queue:PayItemRefunded"] <= 1, (rid, events)
        refunded = [rid for rid, s in final.items() if s["status"] == "refunded"]
        assert len(refunded) <= REQUESTS // 10, {rid: final[rid] for rid in refunded}

        # The demo panel moves the front's clock a day on; the worker runs on the front's time.
        before = datetime.fromisoformat(svc.http.get("/api/v1/sim/lobby").json()["virtual_time"])
        moved = svc.http.post(
            "/api/v1/sim/lobby/clock/advance", json={"seconds": 86_400}, headers=admin
        )
        assert moved.status_code == 204, moved.text
        leaver = USERS[0]
        late = REQUESTS
        r = buy(svc.http, late, viewers[leaver])
        assert r is not None and r.status_code == 202, r and r.text
        rid = purchase(late)["request_id"]

        def placed() -> bool:
            r = svc.http.get(f"/api/v1/channels/lobby/pay-items/{rid}", headers=admin)
            return r.json()["status"] == "positioned"

        until("the late purchase in place", placed)
        history = svc.http.get(f"/api/v1/channels/lobby/pay-items/{rid}", headers=admin).json()
        by_worker = [h for h in history["history"] if h["actor"] == "pay-flow"]
        assert by_worker, history
        for step in by_worker:  # stamped by the worker's clock
            assert datetime.fromisoformat(step["at"]) >= before + timedelta(days=1), step
        left = svc.http.delete(f"/api/v1/sim/lobby/users/{leaver}", headers=admin)
        assert left.status_code == 204, left.text

        def refunded_on_leaving() -> bool:
            r = svc.http.get(f"/api/v1/channels/lobby/pay-items/{rid}", headers=admin)
            return r.json()["status"] == "refunded" and r.json()["cancel_reason"] == "owner_left"

        until("the leaver's purchase refunded", refunded_on_leaving)

        report = audited(data_dir)
        assert report["totals"]["purchases"] == REQUESTS + 1

        assert svc.stop() == 0, svc.log.read_text()[-3000:]
        assert gone(second), "the worker outlived its front's clean stop"
    finally:
        if svc.proc.poll() is None:
            svc.proc.kill()
            svc.proc.wait(15)
        for pid in (first, second):
            if isinstance(pid, int) and not gone(pid):
                os.kill(pid, signal.SIGKILL)
