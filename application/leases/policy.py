"""When to renew a lease and when it is surely no longer ours: pure, on a monotonic clock.

The store starts an entry's time to live when it receives the write, which is after we sent it;
so a lease renewed by a write sent at `sent_at` is ours until at least `sent_at + ttl`. Another
instance can create it only once it lapsed, so an owner that stops before `sent_at + ttl` (less a
margin for clocks that run at slightly different rates) never overlaps its successor.
"""

from __future__ import annotations

from typing import Literal

from attrs import frozen

# Renew three times per TTL: two renewals in a row can fail (a NATS hiccup) with the lease kept.
RENEWALS_PER_TTL = 3
# Stop this share of the TTL before it could lapse: clock rates differ by far less than this.
SAFETY = 0.2


@frozen
class LeaseTiming:
    ttl: float

    @property
    def renew_every(self) -> float:
        return self.ttl / RENEWALS_PER_TTL

    @property
    def retry_every(self) -> float:
        """How often an instance without the lease looks whether it lapsed."""
        return self.ttl / 4

    def valid_until(self, sent_at: float) -> float:
        """Ours for sure until then, given the last write that succeeded was sent at `sent_at`."""
        return sent_at + self.ttl * (1 - SAFETY)


Step = Literal["renew", "lost", "wait"]


@frozen
class Next:
    step: Step
    wait: float = 0.0  # for "wait": how long until the next step is due


def next_step(timing: LeaseTiming, sent_at: float, now: float) -> Next:
    """For a lease held since a write sent at `sent_at`: renew, give it up, or wait."""
    until = timing.valid_until(sent_at)
    if now >= until:
        return Next("lost")
    due = sent_at + timing.renew_every
    if now >= due:
        return Next("renew")
    return Next("wait", min(due, until) - now)


def after_failed_renewal(timing: LeaseTiming, sent_at: float, now: float) -> Next:
    """A renewal that could not reach the store: lost if it is too late, else try again soon."""
    until = timing.valid_until(sent_at)
    if now >= until:
        return Next("lost")
    return Next("wait", min(timing.renew_every / 4, until - now))


def may_take_over(mine_node: str, mine_holder: str, node: str, holder: str) -> bool:
    """An entry written by an earlier process of this same service (same node name, another
    instance id) is ours to take at once: the data dir's lock says that process is gone."""
    return node == mine_node and holder != mine_holder
