"""Request rules: what checking every rule costs one purchase's decision, next to the same
decision without rules, from the same run.

Pure domain, one process, no I/O: a channel with `--pending` paid items waiting from
`--buyers` viewers (and as many played before them), then `queue_decider.decide` of one
`RequestPayItem` timed `--ops` times, each row on the same state:

* `decide, no rules`: the pay decision as it was (the raw figure);
* `decide, every rule on`: all nine rules checked and passing (the count, both minute caps, the
  cooldown, repeats, length, both block lists) and fair order on;
* `preview refusals()`: the preview's list of every rule broken, for a buyer the rules refuse
  on three counts.

    python bench/bench_rules.py
    python bench/bench_rules.py --ops 2000 --pending 50
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import common
from common import summary, table, write_json

from domain.decider import Context
from domain.media import Media
from domain.queue.commands import ObserveItemQueued, ObserveNowPlaying
from domain.queue.decider import queue_decider
from domain.queue.order_model import SetQueueOrder
from domain.queue.pay_model import RecordPaymentCaptured, RequestPayItem
from domain.queue.pay_rules import refusals
from domain.rules.config import BlockedMedia, BlockedUser, RulesConfig

NOW = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
RULES = RulesConfig(
    max_pending_per_viewer=50,
    min_length_sec=30,
    max_length_sec=3600,
    max_viewer_pending_minutes=600,
    max_queue_pending_minutes=6000,
    cooldown_minutes=1,
    no_repeat_hours=6,
    blocked_media=tuple(BlockedMedia("yt", f"blocked{i}", "x") for i in range(50)),
    blocked_users=tuple(BlockedUser(f"troll{i}", "x") for i in range(50)),
    fair_order=True,
)


def channel(pending: int, buyers: int) -> Any:
    history: list[Any] = []

    def run(command: Any, ctx: Context) -> None:
        history.extend(queue_decider.decide(queue_decider.fold("lobby", history), command, ctx))

    ctx = Context(now=NOW, config={})
    run(ObserveItemQueued(1, Media("yt", "now", "Now", 600)), ctx)
    run(ObserveNowPlaying(1), ctx)
    run(SetQueueOrder(True, "bench"), ctx)
    for n in range(pending):
        rid = f"r{n}"
        run(RequestPayItem(rid, f"buyer{n % buyers}", Media("yt", f"m{n}", "", 120), "queue"), ctx)
        run(RecordPaymentCaptured(rid, 100), ctx)
    return queue_decider.fold("lobby", history)


def timed(ops: int, call: Any) -> dict[str, float]:
    took: list[float] = []
    for _ in range(ops):
        t0 = time.perf_counter_ns()
        call()
        took.append((time.perf_counter_ns() - t0) / 1e6)
    return summary(took)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--pending", type=int, default=200)
    parser.add_argument("--buyers", type=int, default=20)
    args = parser.parse_args()
    state = channel(args.pending, args.buyers)
    later = NOW + timedelta(hours=1)
    buy = RequestPayItem("new", "newcomer", Media("yt", "fresh", "", 240), "queue")
    plain = Context(now=later, config={})
    ruled = Context(
        now=later,
        config={
            "request_rules": RULES,
            "buyer_role": "viewer",
            "buyer_rank": 1,  # when a medium last played is the queue state's own now
        },
    )
    refused = RequestPayItem("bad", "buyer1", Media("yt", "blocked3", "", 5), "queue")
    strict = Context(now=NOW, config={"request_rules": RulesConfig(cooldown_minutes=60)})
    assert queue_decider.decide(state, buy, ruled)  # the rules let it through
    assert len(refusals(state, refused, strict)) == 2  # cooldown and count: 2 waiting (of 10)
    rows = {
        "decide, no rules": timed(args.ops, lambda: queue_decider.decide(state, buy, plain)),
        "decide, every rule on": timed(args.ops, lambda: queue_decider.decide(state, buy, ruled)),
        "preview refusals()": timed(args.ops, lambda: refusals(state, refused, strict)),
    }
    print(
        table(
            ["decision", "n", "mean ms", "p50 ms", "p99 ms"],
            [[k, v["n"], v["mean"], v["p50"], v["p99"]] for k, v in rows.items()],
            title=f"one purchase's decision, {args.pending} paid items waiting",
        )
    )
    path = write_json(
        "rules",
        {
            "machine": common.machine(),
            "args": vars(args),
            "rows": rows,
        },
    )
    print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
