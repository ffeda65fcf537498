"""A full disk froze the read side for good: the projections' and the simulator's tasks died
inside their own error handler, /health said ok, and after space was freed nothing recovered
without a restart.

Here the data dir (read models, simulator state) lives on a real, small filesystem: a tmpfs of
a few MB mounted for the test, so SQLite and the simulator meet the kernel's own ENOSPC. As root
it is mounted here; unprivileged, the test runs itself again in a user and mount namespace of its
own (`unshare --user --map-root-user --mount`), where it may mount one, and passes only if that
run passed. Where neither is possible it is skipped saying why, and under `CI=true` it fails.
The log is a nats-server of the test's own on the ordinary disk, so only the read side runs out
of room (a full log store is tests/e2e/test_fault_full_log.py). The disk is filled to the last
byte while CyTube keeps reporting; /health must name the failing parts; once the filler is
deleted, everything catches up by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.media import Media
from domain.queue.commands import ObserveItemQueued
from tests.e2e.conftest import serving
from tests.e2e.test_http_and_live import eventually, queue

SIZE = "8m"
#: Set in the run this test makes of itself inside a user namespace (where it is root).
IN_NAMESPACE = "WEBQUEUE_FULL_DISK_IN_USERNS"
UNSHARE = ["unshare", "--user", "--map-root-user", "--mount"]


def cannot_run(why: str) -> None:
    """Skip saying why; in CI (`CI=true`) a test that cannot run fails instead."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get(IN_NAMESPACE):
        pytest.fail(f"test_fault_full_disk cannot run here: {why}")
    pytest.skip(why)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A mounted tmpfs of `SIZE`; None when this process may not mount one (the test then runs
    itself again in a user namespace)."""
    if os.geteuid() != 0:
        yield None
        return
    if shutil.which("mount") is None:
        cannot_run("mount(8) is not installed")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        if os.environ.get(IN_NAMESPACE):
            cannot_run(f"cannot mount a tmpfs even in a user namespace: {done.stderr.strip()}")
        yield None  # root without the right to mount (a container): a namespace may have it
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def namespace_refused() -> str | None:
    """Why a user and mount namespace cannot be made here, or None if it can."""
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else probe.stderr.strip() or f"exit {probe.returncode}"


async def run_in_user_namespace(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """This test again, in a user and mount namespace where it is root and mounts its tmpfs;
    passes only if that run passed (ran, not skipped)."""
    if shutil.which("unshare") is None:
        cannot_run("not root, and unshare(1) is not installed to mount a tmpfs unprivileged")
    refused = namespace_refused()
    if refused is not None:
        cannot_run(f"not root, and no user namespace may be made: {refused}")
    child = await asyncio.create_subprocess_exec(
        *UNSHARE,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-rfEs",
        f"--basetemp={tmp_path / 'in-namespace'}",
        request.node.nodeid,
        cwd=str(request.config.rootpath),
        env={**os.environ, IN_NAMESPACE: "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(child.communicate(), 600)
    text = out.decode(errors="replace")
    assert child.returncode == 0 and "1 passed" in text, text[-6000:]


def fill(disk: Path) -> Path:
    """Write a filler file until the filesystem refuses another byte."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 16, 1 << 10, 1):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * size)
    with pytest.raises(OSError) as full:
        (disk / "one-more").write_bytes(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


async def test_a_full_disk_is_reported_and_the_read_side_recovers_once_there_is_room(
    small_disk: Path | None, open_broker: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if small_disk is None:
        await run_in_user_namespace(request, tmp_path)
        return
    async with serving(
        small_disk / "data",
        nats_url=open_broker,
        allow_open_nats=True,
        cytube="sim",
        economy="local",
        sim_speed=1.0,
    ) as svc:

        async def ok() -> bool:
            r = await svc.http.get("/health")
            return r.status_code == 200 and r.json()["status"] == "ok"

        await eventually(ok, "health ok before the disk fills", within=20)
        filler = fill(small_disk)
        observer = svc.services.cytube.observer
        for n in range(40):  # CyTube keeps reporting: the log takes it, the rows cannot
            media = Media("yt", f"full{n}", "Full disk " + "x" * 400, 60)
            await observer.record("lobby", ObserveItemQueued(900 + n, media))
        body = {"media_type": "yt", "media_id": "duringFull", "title": "During", "duration_sec": 60}
        during = await svc.sim.post("/api/v1/sim/lobby/media", json=body)
        # The simulated CyTube took it but cannot save: a 503 that says why, and it is
        # reported once it can be saved.
        assert during.status_code == 503, during.text
        assert during.json()["error"]["code"] == "storage_unavailable"

        async def reported() -> dict[str, object] | None:
            r = await svc.http.get("/health")
            health = r.json()
            failing = {n: p for n, p in health["parts"].items() if p["status"] != "ok"}
            return failing if health["status"] != "ok" and failing else None

        failing = await eventually(reported, "health to name the failing parts", within=30)
        assert any(name.startswith("projection:") for name in failing), failing

        tasks = svc.services.tasks
        assert all(not t.done() for t in tasks), [t.get_name() for t in tasks if t.done()]

        filler.unlink()
        await eventually(ok, "health ok again once there is room", within=60)
        head = await svc.services.kernel.log.events.head()

        async def followed() -> bool:
            return all(r.position >= head for r in svc.services.runners)

        await eventually(followed, "every projection back at the log's head", within=30)
        shown = {i["media"]["id"] for i in (await queue(svc))["items"]}
        assert {f"full{n}" for n in range(40)} | {"duringFull"} <= shown
        after = {"media_type": "yt", "media_id": "afterFull", "title": "After", "duration_sec": 60}
        added = await svc.sim.post("/api/v1/sim/lobby/media", json=after)
        assert added.status_code == 201, added.text

        async def in_queue() -> bool:
            return "afterFull" in {i["media"]["id"] for i in (await queue(svc))["items"]}

        await eventually(in_queue, "an item added after the disk had room", within=20)
