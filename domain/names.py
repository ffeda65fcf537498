"""Channel and user names as CyTube allows them, and a channel's one canonical form.

CyTube (calzoneman/sync, `src/utilities.js`) accepts a channel name matching `^[\\w-]{1,30}$`
and a user name matching `^[\\w-]{1,20}$`, with JavaScript's ASCII `\\w`, and looks channels up
lowercased. Anything else cannot be a CyTube channel or user, so it is refused where it comes
in: a name is put into NATS subjects, and one of 4,100 characters once made nats-server end
the service's connection. Lowercasing once at the edge means `LOBBY` and `lobby` are one
channel; `lob.by`, `lobby.*` or `lob by` are refused rather than folded onto `lobby`'s subjects.
"""

from __future__ import annotations

import re
from typing import Final

CHANNEL_MAX_CHARS: Final = 30
USER_NAME_MAX_CHARS: Final = 20
CHANNEL_PATTERN: Final = rf"^[A-Za-z0-9_-]{{1,{CHANNEL_MAX_CHARS}}}$"
USER_NAME_PATTERN: Final = rf"^[A-Za-z0-9_-]{{1,{USER_NAME_MAX_CHARS}}}$"
_CHANNEL = re.compile(CHANNEL_PATTERN)
_USER = re.compile(USER_NAME_PATTERN)


class InvalidName(ValueError):
    """A name CyTube would not accept; `code` is `invalid_channel` or `invalid_user`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 40 else f"{name[:20]!r}... ({len(name)} characters)"


def channel_name(name: str) -> str:
    """`name` in its canonical (lowercase) form, or InvalidName."""
    if not _CHANNEL.fullmatch(name):
        raise InvalidName(
            "invalid_channel",
            f"{_shown(name)} is not a CyTube channel name: 1 to {CHANNEL_MAX_CHARS} letters, "
            "digits, '_' or '-'.",
        )
    return name.lower()


def user_name(name: str) -> str:
    """`name` unchanged if CyTube could have given it to a user, else InvalidName."""
    if not _USER.fullmatch(name):
        raise InvalidName(
            "invalid_user",
            f"{_shown(name)} is not a CyTube user name: 1 to {USER_NAME_MAX_CHARS} letters, "
            "digits, '_' or '-'.",
        )
    return name
