"""`webqueue rebuild`: drop the projections and replay them from the log, on every core.

The folds are pure Python, so one process folds on one core. With `--jobs N` (at most one per
projection) the projections are split into N groups of about equal cost and each group is
rebuilt by a process of its own, every one of them reading the log once for its group; the
parent keeps the embedded nats-server up for them (they reuse it), makes the tables once,
prefixes their lines with their group, and fails if one fails.

One process stays the default: on the 2-core machine of docs/performance.md (100k events, 20
channels) two processes took 6.6 to 8.0 s against 6.2 to 8.0 s for one into SQLite (one writer
at a time, and the one process already keeps the second core busy with the driver's thread and
the nats-server) at 1.7 times the CPU, and 6.3 to 6.5 s against 6.8 to 7.6 s into PostgreSQL.
With more cores than processes already busy, or a dearer projection, `--jobs` is the knob.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence

from entrypoints.argv import without
from entrypoints.config.settings import Settings

#: Seconds each projection's rebuild took alone less the read of the log (bench_rebuild's
#: `sequential` mode, 100k events over 20 channels into SQLite, 2026-12-02): what the groups
#: are balanced by. A projection not listed counts as 1.
COST = {"queue_shadow": 3.9, "stats": 2.4, "playlists": 1.3, "catalog": 0.9, "likes": 0.7}


class UnknownProjection(ValueError):
    pass


def chosen(names: Sequence[str], only: str | None) -> list[str]:
    """The projections `--only` names (all when it is None), in their usual order."""
    if only is None:
        return list(names)
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in names]
    if unknown or not wanted:
        raise UnknownProjection(
            f"no projection named {', '.join(unknown) or repr(only)}; "
            f"the projections are {', '.join(names)}"
        )
    return [n for n in names if n in wanted]


def groups(names: Sequence[str], jobs: int) -> list[list[str]]:
    """At most `jobs` groups of about equal cost: the dearest first, each to the cheapest
    group so far (longest processing time first)."""
    jobs = max(1, min(jobs, len(names)))
    made: list[list[str]] = [[] for _ in range(jobs)]
    load = [0.0] * jobs
    for name in sorted(names, key=lambda n: -COST.get(n, 1.0)):
        i = load.index(min(load))
        made[i].append(name)
        load[i] += COST.get(name, 1.0)
    order = {n: k for k, n in enumerate(names)}
    return [sorted(g, key=order.__getitem__) for g in made if g]


def child_argv(argv: Sequence[str], group: Sequence[str]) -> list[str]:
    """This command line for one group: `--only` and `--jobs` replaced."""
    return [*without(argv, ("--only", "--jobs")), "--only", ",".join(group), "--jobs", "1"]


async def rebuild(settings: Settings, only: str | None, jobs: int | None, argv: list[str]) -> int:
    from entrypoints.bootstrap import projections

    names = [p.name for p in projections()]
    try:
        picked = chosen(names, only)
    except UnknownProjection as exc:
        print(f"webqueue rebuild: {exc}", file=sys.stderr)
        return 2
    split = groups(picked, jobs or 1)
    if len(split) == 1:
        await _in_this_process(settings, split[0])
        return 0
    return await _in_processes(settings, split, argv)


async def _in_this_process(settings: Settings, names: list[str]) -> None:
    """The projections dropped and replayed from one read of the log (`rebuild_many`): each
    commit is read and decoded once and handed to every projection."""
    from application.projections.runner import ProjectionRunner, rebuild_many
    from entrypoints.bootstrap import open_log, open_read_models, projections
    from entrypoints.cli.progress import Progress

    log_ = await open_log(settings)
    read_models = await open_read_models(settings)
    try:
        runners = [
            ProjectionRunner(log_.events, read_models, p) for p in projections() if p.name in names
        ]
        label = ", ".join(runner.projection.name for runner in runners)
        started = time.monotonic()
        applied = await rebuild_many(runners, Progress(f"rebuild {label}"))
        took = time.monotonic() - started
        for runner in runners:
            print(
                f"{runner.projection.name}: {applied} commits replayed in {took:.2f}s "
                f"({applied / max(took, 1e-9):,.0f}/s, one read of the log for all "
                f"{len(runners)}), now at position {runner.position}",
                file=sys.stderr,
            )
    finally:
        await read_models.close()
        await log_.close()


async def _in_processes(settings: Settings, split: list[list[str]], argv: list[str]) -> int:
    from entrypoints.bootstrap import open_log, open_read_models

    log_ = await open_log(settings)  # the embedded server stays up while the groups run
    started = time.monotonic()
    try:
        # The tables made once, here: groups creating them at the same moment could collide.
        await (await open_read_models(settings)).close()
        print(
            f"rebuild in {len(split)} processes: "
            + "; ".join(f"[{k + 1}] {', '.join(g)}" for k, g in enumerate(split)),
            file=sys.stderr,
        )
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "entrypoints.cli.main",
                *child_argv(argv, group),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            for group in split
        ]
        codes = await asyncio.gather(*(_relay(k + 1, child) for k, child in enumerate(children)))
    finally:
        await log_.close()
    failed = [
        f"[{k + 1}] {', '.join(g)}" for k, (g, c) in enumerate(zip(split, codes, strict=True)) if c
    ]
    took = time.monotonic() - started
    if failed:
        print(f"rebuild failed in {'; '.join(failed)} (see above)", file=sys.stderr)
        return 1
    print(f"rebuild done in {took:.2f}s over {len(split)} processes", file=sys.stderr)
    return 0


async def _relay(number: int, child: asyncio.subprocess.Process) -> int:
    """The child's lines, prefixed with its group, until it ends; its exit code."""
    assert child.stderr is not None
    async for line in child.stderr:
        sys.stderr.write(f"[{number}] {line.decode(errors='replace')}")
        sys.stderr.flush()
    return await child.wait()
