"""What an operator tunes about the Kryten peers: their subjects and how long we wait for them.

The defaults are what Kryten-Robot 1.12.6 and kryten-economy 0.16.1 use out of the box.
"""

from __future__ import annotations

from attrs import Attribute, field, frozen


def _positive(_: object, attribute: Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be more than zero, got {value}")


def _subject(_: object, attribute: Attribute[str], value: str) -> None:
    if not value or any(c in value for c in " \t\r\n*>") or ".." in value or value[0] == ".":
        raise ValueError(f"must be a NATS subject without spaces or wildcards, got {value!r}")


@frozen
class KrytenConfig:
    """`robot_timeout_sec` must outlast the robot's own 8 s wait for CyTube's `queue` after an
    add, or a slow add becomes an unknown outcome."""

    events_prefix: str = field(default="kryten.events.cytube", validator=_subject)
    robot_subject: str = field(default="kryten.robot.command", validator=_subject)
    robot_timeout_sec: float = field(default=10.0, validator=_positive)
    robot_lifecycle: str = field(default="kryten.lifecycle.robot", validator=_subject)
    economy_subject: str = field(default="kryten.economy.command", validator=_subject)
    economy_timeout_sec: float = field(default=5.0, validator=_positive)
    economy_lifecycle: str = field(default="kryten.lifecycle.economy", validator=_subject)
    probe_interval_sec: float = field(default=15.0, validator=_positive)
    probe_timeout_sec: float = field(default=2.0, validator=_positive)
