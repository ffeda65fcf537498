"""What the application reports about its own work, as a port: no metrics library, no globals.

The composition root hands one `Telemetry` to the handlers and process managers that report;
anything built without one reports to `NullTelemetry`, which drops everything. Calls are cheap
and synchronous and must never raise: they sit on the hot path of every command.
"""

from __future__ import annotations

from typing import Literal, Protocol

CommandOutcome = Literal["ok", "noop", "rejected", "conflict_exhausted", "unavailable", "error"]
"""How a command ended. `ok`: its events were appended. `noop`: nothing was appended (the decider
had nothing to record, or the commit was a duplicate of one already in the log). `rejected`: the
decider refused it. `conflict_exhausted`: the stream kept moving past the retry budget.
`unavailable`: the log could not be reached. `error`: anything else (a bug)."""

PayOutcome = Literal["captured", "declined", "refunded", "refund_refused"]


class Telemetry(Protocol):
    def command_handled(
        self, aggregate: str, command_type: str, outcome: CommandOutcome, seconds: float
    ) -> None:
        """One command handled, from the call until its answer (lock wait and retries included)."""
        ...

    def append_latency(self, seconds: float) -> None:
        """One append to the event log, however it ended."""
        ...

    def conflict_retry(self, aggregate: str) -> None:
        """An append refused because the stream moved: the handler catches up and decides again."""
        ...

    def pay_outcome(self, outcome: PayOutcome) -> None:
        """The pay flow recorded a payment outcome."""
        ...

    def refund(self, reason: str) -> None:
        """The pay flow gave money back; `reason` is why the purchase was cancelled."""
        ...

    def promo_inserted(self, promo_type: str) -> None:
        """The promo director added a promo clip to CyTube."""
        ...

    def lease_acquired(self, lease: str, takeover_seconds: float | None) -> None:
        """This instance took a lease; `takeover_seconds`: how long it lay unrenewed since its
        last holder's last renewal (None when it was free or released)."""
        ...

    def lease_lost(self, lease: str, why: str) -> None:
        """This instance lost a lease (`taken`: someone else holds it; `expired`: it could not
        renew in time) and stopped the work it guards."""
        ...


class NullTelemetry:
    """Reports nothing: the default wherever no telemetry is wired in."""

    def command_handled(
        self, aggregate: str, command_type: str, outcome: CommandOutcome, seconds: float
    ) -> None:
        return None

    def append_latency(self, seconds: float) -> None:
        return None

    def conflict_retry(self, aggregate: str) -> None:
        return None

    def pay_outcome(self, outcome: PayOutcome) -> None:
        return None

    def refund(self, reason: str) -> None:
        return None

    def promo_inserted(self, promo_type: str) -> None:
        return None

    def lease_acquired(self, lease: str, takeover_seconds: float | None) -> None:
        return None

    def lease_lost(self, lease: str, why: str) -> None:
        return None
