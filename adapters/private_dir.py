"""A directory only its owner may enter: the data dir holds the token secret, the NATS
passwords and the log's store."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def make_private(path: Path) -> None:
    """Create `path` (0700) or take group and other access away from it; a directory that is
    not ours, or is shared on purpose (sticky, like /tmp), is left as it is."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & stat.S_ISVTX:
            return
        if info.st_mode & 0o077:
            path.chmod(stat.S_IMODE(info.st_mode) & 0o700)
