"""One service per data directory: two would run two simulators on one log."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class ServiceAlreadyRunning(RuntimeError):
    pass


class ServiceLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "service.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ServiceAlreadyRunning(
                f"a webqueue service (pid {holder}) is already running on {self.path.parent}; "
                "stop it, or give this one another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file may stay
            self._fd = None
