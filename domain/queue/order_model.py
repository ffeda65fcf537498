"""The order rule of tier `queue` as a fact in the queue's own log: a replay knows, at every
point, whether paid items were placed first come first served or round-robin between buyers."""

from __future__ import annotations

from typing import ClassVar

from attrs import frozen


@frozen
class SetQueueOrder:
    fair: bool
    by: str


@frozen
class QueueOrderSet:
    VERSION: ClassVar[int] = 1
    fair: bool
    by: str


ORDER_EVENTS: tuple[type, ...] = (QueueOrderSet,)
