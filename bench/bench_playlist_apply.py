"""Playlist apply and marathon benchmark: what the guard per add costs.

An apply of N items to a simulated channel over an in-memory log (no pacing: the delay set to
0, the shared pacer off), every add guarded by its `ApplyItemAddStarted` append and followed by
its outcome: wall time per item, next to the raw figure from the same run, N adds straight
through the simulated CyTube port with nothing recorded but the channel's own observations.
Then the marathon methods over 26 sources of `--items / 26` episodic titles each (run order
on), next to each source sorted by title (run order without reading episodes) and, for the
shuffle, the standard library's `random.shuffle`.

Prints a table and writes JSON to bench/results/playlist_apply.json.

    python bench/bench_playlist_apply.py                  # 200 and 1,000 items
    python bench/bench_playlist_apply.py --sizes 100      # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

from common import ratio, started_record, table, write_json  # noqa: E402

from adapters.clock import VirtualClock  # noqa: E402
from adapters.log.memory_store import InMemoryEventStore  # noqa: E402
from adapters.sim.channel import SimulatedChannel  # noqa: E402
from adapters.sim.cytube import SimCytube  # noqa: E402
from application.cytube.observing import Observer  # noqa: E402
from application.identity.roles import Identity  # noqa: E402
from application.log.command_handler import CommandHandler  # noqa: E402
from application.playlists.apply import ApplyConfig, PlaylistApplier  # noqa: E402
from application.playlists.service import PlaylistService  # noqa: E402
from domain.media import Media  # noqa: E402
from domain.playlists.marathon import marathon  # noqa: E402

START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
MOD = Identity("mod", "blessed")


class _NoRows:
    """The apply reads no read model; the service's name check asks for rows once."""

    async def fetch(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return []


def _world() -> tuple[
    CommandHandler, SimulatedChannel, SimCytube, VirtualClock, InMemoryEventStore
]:
    store = InMemoryEventStore()
    clock = VirtualClock(START, speed=1.0)
    handler = CommandHandler(store, clock)
    sim = SimulatedChannel("lobby", clock, Observer(handler))
    return handler, sim, SimCytube({"lobby": sim}), clock, store


def media(n: int) -> list[Media]:
    return [
        Media("yt", f"m{i:06d}", f"Show S{1 + i // 100:02d}E{i % 100:02d}", 600) for i in range(n)
    ]


async def apply_once(n: int) -> float:
    handler, sim, cytube, clock, store = _world()
    await sim.add(Media("yt", "now", "Now playing", 6000))
    playlists = PlaylistService(handler, _NoRows(), clock)  # type: ignore[arg-type]
    made = await playlists.create("lobby", MOD, "Bench", items=media(n))
    config = ApplyConfig(playlist_bulk_add_delay_sec=0.0, confirm_timeout_sec=0.5)
    applier = PlaylistApplier(
        handler,
        store,
        cytube,
        Observer(handler),
        clock,
        playlists,
        channels=["lobby"],
        config=config,
    )
    started = time.perf_counter()
    status = await applier.start("lobby", MOD, made.playlist_id, "append")
    await applier.idle()
    took = time.perf_counter() - started
    final = await applier.status("lobby", MOD, status.apply_id)
    assert final.queued == n, final
    return took


async def raw_once(n: int) -> float:
    _handler, sim, cytube, _clock, _store = _world()
    await sim.add(Media("yt", "now", "Now playing", 6000))
    started = time.perf_counter()
    for m in media(n):
        outcome = await cytube.add("lobby", m, "end", temp=False)
        assert outcome.ok
    return time.perf_counter() - started


def marathon_once(method: str, sources: list[list[Media]]) -> float:
    started = time.perf_counter()
    marathon(
        method,  # type: ignore[arg-type]
        sources,
        lambda m: m.title,
        pattern="A2 B C3 D E F G H I J K L M N O P Q R S T U V W X Y Z",
        seed=42,
    )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=2000, help="marathon items in all")
    args = parser.parse_args()
    record = started_record("playlist_apply", vars(args))
    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    for n in args.sizes:
        ours = statistics.median([await apply_once(n) for _ in range(args.repeats)])
        raw = statistics.median([await raw_once(n) for _ in range(args.repeats)])
        per_ours, per_raw = ours / n * 1000, raw / n * 1000
        rows.append([f"apply {n:,} items", per_ours, per_raw, ratio(per_ours, per_raw)])
        results.append(
            {"what": "apply", "items": n, "ms_per_item": per_ours, "raw_ms_per_item": per_raw}
        )
    per = args.items // 26
    sources = [media(per)[::-1] for _ in range(26)]  # reversed: run order has work to do
    sources = [
        [Media("yt", f"{s}-{m.id}", m.title, m.duration_sec) for m in src]
        for s, src in enumerate(sources)
    ]
    flat = [m for s in sources for m in s]

    def raw_sorted() -> float:  # run order without reading episodes: sort each source by title
        t = time.perf_counter()
        [m for src in sources for m in sorted(src, key=lambda m: m.title)]
        return time.perf_counter() - t

    def raw_shuffle() -> float:  # the standard library's shuffle of the same items
        t = time.perf_counter()
        random.Random(42).shuffle(list(flat))
        return time.perf_counter() - t

    for method in ("concatenate", "shuffle", "interleave"):
        ours_ms = statistics.median([marathon_once(method, sources) for _ in range(5)]) * 1000
        raw_fn = raw_shuffle if method == "shuffle" else raw_sorted
        raw_ms = statistics.median([raw_fn() for _ in range(5)]) * 1000
        rows.append([f"{method} {len(flat):,} items", ours_ms, raw_ms, ratio(ours_ms, raw_ms)])
        results.append({"what": method, "items": len(flat), "ms": ours_ms, "raw_ms": raw_ms})
    print(
        table(
            ["what", "ours (ms; apply: per item)", "raw (ms)", "ours/raw"],
            rows,
            "Playlist apply (guarded adds over an in-memory log) and marathons; raw: adds "
            "straight to the simulated port; each source sorted by title (concatenate, "
            "interleave); random.shuffle (shuffle)",
        )
    )
    record["results"] = results
    print(f"wrote {write_json('playlist_apply', record)}")


if __name__ == "__main__":
    asyncio.run(main())
