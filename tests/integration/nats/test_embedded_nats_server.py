"""The embedded nats-server: JetStream persistence, guests, orphan adoption, stale state.

Every test gets its own data dir; its teardown kills any nats-server still running on
that dir, so a failing test cannot leak a server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from adapters.nats.embedded_server import (
    COMMANDS_INBOX,
    COMMANDS_USER,
    SERVICE_USER,
    EmbeddedNatsServer,
    pid_alive,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
STREAM = "ORDERS"

# Run in a child python: start a server on argv[1], report it, then behave per argv[2].
CHILD = """
import json, os, signal, sys
from pathlib import Path
from adapters.nats.embedded_server import EmbeddedNatsServer

server = EmbeddedNatsServer(Path(sys.argv[1]))
server.start()
print(json.dumps({"url": server.url, "owned": server.owned, "pid": server.pid}), flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()  # hold the server until the test closes our stdin
server.stop()
"""


def _nats_pids_on(data_dir: Path) -> list[int]:
    """Every nats-server whose command line names this data dir, i.e. started by this test."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"nats-server" in cmdline and str(data_dir).encode() in cmdline:
            pids.append(int(proc.name))
    state = _state(data_dir)
    if state and isinstance(state.get("pid"), int) and pid_alive(state["pid"]):
        pids.append(state["pid"])
    return [pid for pid in set(pids) if pid_alive(pid)]


def _wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _freeze(pid: int) -> None:
    """SIGSTOP pid and wait until every thread has stopped: a Go thread that has not yet
    taken the stop can still accept a connection and send INFO."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        states = [
            (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            for task in Path(f"/proc/{pid}/task").iterdir()
        ]
        if all(state in ("T", "t") for state in states):
            return
        time.sleep(0.005)
    raise AssertionError(f"pid {pid} did not stop")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for pid in _nats_pids_on(tmp_path):
        os.kill(pid, signal.SIGKILL)
        _wait_dead(pid)


def _state(data_dir: Path) -> dict | None:
    try:
        return json.loads((data_dir / "nats" / "server.json").read_text())
    except (OSError, ValueError):
        return None


def _spawn_child(data_dir: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _run_orphaning_child(data_dir: Path) -> dict:
    """A service that starts its server and is then kill -9'd, leaving the server orphaned."""
    child = _spawn_child(data_dir, "die")
    out, _ = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return json.loads(out)


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


async def _connect(data_dir: Path, url: str) -> nats.NATS:
    """Signed in as the service would be: the embedded server lets no anonymous client in."""
    credentials = EmbeddedNatsServer(data_dir).credentials()
    return await nats.connect(url, **credentials.connect_options())


async def _publish(data_dir: Path, url: str, payload: bytes) -> None:
    nc = await _connect(data_dir, url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=STREAM, subjects=["orders.>"])
        await js.publish("orders.new", payload)
    finally:
        await nc.close()


async def _first_message(data_dir: Path, url: str) -> bytes:
    nc = await _connect(data_dir, url)
    try:
        msg = await nc.jetstream().get_msg(STREAM, seq=1)
        return msg.data or b""
    finally:
        await nc.close()


async def test_jetstream_data_survives_a_restart(data_dir: Path) -> None:
    first = EmbeddedNatsServer(data_dir)
    url = first.start()
    first_pid = first.pid
    assert first.owned and first_pid is not None
    try:
        await _publish(data_dir, url, b"kept")
    finally:
        first.stop()
    assert _wait_dead(first_pid, timeout=0)
    assert _state(data_dir) is None

    with EmbeddedNatsServer(data_dir) as second:
        assert second.owned
        assert await _first_message(data_dir, second.url) == b"kept"


async def test_second_instance_is_a_guest_and_leaves_the_server_running(data_dir: Path) -> None:
    with EmbeddedNatsServer(data_dir) as owner:
        guest = EmbeddedNatsServer(data_dir)
        assert guest.start() == owner.url
        assert not guest.owned
        guest.stop()
        assert owner.pid is not None and pid_alive(owner.pid)
        await _publish(data_dir, owner.url, b"after guest stop")
        assert await _first_message(data_dir, owner.url) == b"after guest stop"


async def test_guest_in_another_process_leaves_the_server_running(data_dir: Path) -> None:
    with EmbeddedNatsServer(data_dir) as owner:
        child = _spawn_child(data_dir, "hold")
        out, _ = child.communicate(input="", timeout=30)
        assert child.returncode == 0
        seen = json.loads(out)
        assert seen == {"url": owner.url, "owned": False, "pid": owner.pid}
        assert owner.pid is not None and pid_alive(owner.pid)
        await _publish(data_dir, owner.url, b"still up")


def test_concurrent_starts_launch_one_server(data_dir: Path) -> None:
    children = [_spawn_child(data_dir, "hold") for _ in range(3)]
    try:
        assert all(child.stdout is not None for child in children)
        seen = [json.loads(child.stdout.readline()) for child in children]  # type: ignore[union-attr]
        assert len({s["url"] for s in seen}) == 1
        assert len({s["pid"] for s in seen}) == 1
        assert sum(s["owned"] for s in seen) == 1
        server_pid = seen[0]["pid"]
        # Release the guests first: the server must outlive them, then die with its owner.
        for child, s in sorted(zip(children, seen, strict=True), key=lambda cs: cs[1]["owned"]):
            child.communicate(input="", timeout=30)
            assert child.returncode == 0
            assert pid_alive(server_pid) is not s["owned"]
        assert _state(data_dir) is None
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


async def test_orphan_of_a_killed_service_is_adopted_and_stopped(data_dir: Path) -> None:
    orphan = _run_orphaning_child(data_dir)
    assert pid_alive(orphan["pid"])
    await _publish(data_dir, orphan["url"], b"before the crash")

    server = EmbeddedNatsServer(data_dir)
    assert server.start() == orphan["url"]
    assert server.owned
    assert server.pid == orphan["pid"]
    assert _state(data_dir)["owner_pid"] == os.getpid()  # type: ignore[index]
    assert await _first_message(data_dir, server.url) == b"before the crash"

    server.stop()
    assert _wait_dead(orphan["pid"], timeout=0)
    assert _state(data_dir) is None


async def test_stale_state_with_a_dead_pid_starts_a_fresh_server(data_dir: Path) -> None:
    dead_pid = _dead_pid()
    state_file = data_dir / "nats" / "server.json"
    state_file.parent.mkdir(parents=True)
    stale = {"pid": dead_pid, "url": "nats://127.0.0.1:1", "owner_pid": dead_pid}
    state_file.write_text(json.dumps(stale))

    with EmbeddedNatsServer(data_dir) as server:
        assert server.owned
        assert server.pid != dead_pid
        assert server.url != stale["url"]
        assert _state(data_dir)["pid"] == server.pid  # type: ignore[index]
        await _publish(data_dir, server.url, b"fresh")


def test_hung_orphan_is_killed_and_replaced(data_dir: Path) -> None:
    orphan = _run_orphaning_child(data_dir)
    _freeze(orphan["pid"])  # accepts TCP connections but never greets

    with EmbeddedNatsServer(data_dir) as server:
        assert server.owned
        assert server.pid != orphan["pid"]
        assert _wait_dead(orphan["pid"])


def test_hung_server_of_a_live_owner_is_not_killed(data_dir: Path) -> None:
    with EmbeddedNatsServer(data_dir) as owner:
        assert owner.pid is not None
        _freeze(owner.pid)
        try:
            with pytest.raises(RuntimeError, match="does not answer"):
                EmbeddedNatsServer(data_dir).start()
            assert pid_alive(owner.pid)
        finally:
            os.kill(owner.pid, signal.SIGCONT)


async def test_session_fixture_serves_jetstream(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="FIXTURE_CHECK", subjects=["fixture-check.>"])
        ack = await js.publish("fixture-check.ping", b"pong")
        assert ack.seq == 1
        await js.delete_stream("FIXTURE_CHECK")
    finally:
        await nc.close()


# -- the trust boundary ------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


async def test_credentials_are_private_files_and_never_on_a_command_line(data_dir: Path) -> None:
    with EmbeddedNatsServer(data_dir) as server:
        secrets = [server.credentials(u).password for u in (SERVICE_USER, COMMANDS_USER)]
        assert all(secrets) and len(set(secrets)) == 2
        for path in (
            server.credentials_file(SERVICE_USER),
            server.credentials_file(COMMANDS_USER),
            server.config_file,
        ):
            assert _mode(path) == 0o600, path
        assert _mode(server.nats_dir) == 0o700
        assert server.pid is not None
        cmdline = (Path("/proc") / str(server.pid) / "cmdline").read_bytes()
        assert not any(secret.encode() in cmdline for secret in secrets if secret)


async def test_a_client_without_credentials_is_turned_away(data_dir: Path) -> None:
    with (
        EmbeddedNatsServer(data_dir) as server,
        pytest.raises(Exception, match="Authorization Violation"),
    ):
        await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0)


async def test_the_commands_user_cannot_write_the_log_read_tokens_purge_or_pose_as_the_economy(
    data_dir: Path,
) -> None:
    """What an outsider once did with an open server, tried with the weaker credential."""
    with EmbeddedNatsServer(data_dir) as server:
        service = await nats.connect(server.url, **server.credentials().connect_options())
        denied: list[str] = []

        async def noted(exc: Exception) -> None:
            denied.append(str(exc))

        guest = await nats.connect(
            server.url,
            inbox_prefix=COMMANDS_INBOX,
            error_cb=noted,
            **server.credentials(COMMANDS_USER).connect_options(),
        )
        try:
            js = service.jetstream()
            await js.add_stream(name="TRUST", subjects=["wq.ev.>"])
            await js.publish("wq.ev.lobby.queue.lobby", b"{}")
            tokens = await guest.subscribe("wq.cmd.>")
            rogue = await guest.subscribe("kryten.economy.command")
            await guest.publish("wq.ev.lobby.wallet.alice", b'{"type": "CreditGranted"}')
            await guest.publish("$JS.API.STREAM.PURGE.TRUST", b"")
            await guest.flush()
            await service.publish("wq.cmd.lobby.grant", b'{"token": "secret"}')
            await service.flush()

            for _ in range(100):  # the server reports each refusal on its own time
                if len(denied) >= 4:
                    break
                await asyncio.sleep(0.05)
            assert any("wq.cmd.>" in d for d in denied), denied
            assert any("kryten.economy.command" in d for d in denied), denied
            assert any("wq.ev.lobby.wallet.alice" in d for d in denied), denied
            assert any("purge" in d.lower() for d in denied), denied
            with pytest.raises(nats.errors.TimeoutError):
                await tokens.next_msg(timeout=0.3)
            with pytest.raises(nats.errors.TimeoutError):
                await rogue.next_msg(timeout=0.1)
            assert (await js.stream_info("TRUST")).state.messages == 1  # nothing added, none gone
            assert guest.is_connected  # a refused publish does not end the connection
        finally:
            await guest.close()
            await service.close()


async def test_even_the_service_credential_cannot_purge_or_delete_the_log(data_dir: Path) -> None:
    with EmbeddedNatsServer(data_dir) as server:
        nc = await nats.connect(
            server.url, error_cb=_ignore, **server.credentials().connect_options()
        )
        try:
            js = nc.jetstream(timeout=1)
            await js.add_stream(name="KEEP", subjects=["keep.>"])
            await js.publish("keep.one", b"1")
            for destroy in (js.purge_stream("KEEP"), js.delete_stream("KEEP")):
                with pytest.raises(nats.errors.TimeoutError):
                    await destroy
            assert (await js.stream_info("KEEP")).state.messages == 1
        finally:
            await nc.close()


async def _ignore(_: Exception) -> None:
    return None


async def test_a_dead_server_is_revived_on_the_same_url(data_dir: Path) -> None:
    with EmbeddedNatsServer(data_dir) as server:
        await _publish(data_dir, server.url, b"before")
        first, url = server.pid, server.url
        assert first is not None and not server.revive()  # alive: nothing to do
        os.kill(first, signal.SIGKILL)
        for _ in range(500):  # its threads wind down before it can be reaped
            if not server.alive():
                break
            await asyncio.sleep(0.02)
        assert server.revive()
        assert server.pid != first and server.url == url
        assert await _first_message(data_dir, url) == b"before"
