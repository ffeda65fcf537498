"""A `--workers` front starts each worker on its own command line: the front's port, host, data
dir and worker count replaced, everything else (config, NATS, peers) as the person gave it."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.config.settings import Settings
from entrypoints.workers import WorkersRefused, check, reach, worker_argv


def test_the_fronts_own_flags_are_replaced_and_the_rest_kept() -> None:
    argv = ["serve", "--config", "wq.toml", "--port=9000", "--host", "0.0.0.0",
            "--data-dir", "/srv/wq", "--workers", "1", "--nats-url", "nats://n1:4222",
            "--db", "postgresql+asyncpg://db/wq"]  # fmt: skip
    got = worker_argv(argv, number=2, port=4100, data_dir=Path("/srv/wq/worker-2"), front_pid=77)
    assert got == [
        "serve", "--config", "wq.toml", "--nats-url", "nats://n1:4222",
        "--db", "postgresql+asyncpg://db/wq",
        "--host", "127.0.0.1", "--port", "4100", "--data-dir", "/srv/wq/worker-2",
        "--worker-of", "77", "--worker", "2", "--workers", "0",
    ]  # fmt: skip


def test_no_leases_on_a_front_is_not_passed_on_and_takes_no_value_with_it() -> None:
    got = worker_argv(["serve", "--no-leases", "--config", "wq.toml", "--workers=1"], number=1,
                      port=1, data_dir=Path("w"), front_pid=1)  # fmt: skip
    assert "--no-leases" not in got and got.count("--workers") == 1
    assert got[:3] == ["serve", "--config", "wq.toml"]


def test_workers_with_no_leases_are_refused() -> None:
    with pytest.raises(WorkersRefused, match="--no-leases"):
        check(Settings(workers=1, nats_url="nats://n:4222", cytube="kryten", take_leases=False))


@pytest.mark.parametrize(
    "settings",
    [Settings(workers=1), Settings(workers=1, nats_url="nats://n:4222", cytube="sim")],
    ids=["embedded default", "simulator on a NATS of its own"],
)
def test_workers_on_the_embedded_default_and_the_simulator_are_not_refused(
    settings: Settings,
) -> None:
    check(settings)


def test_a_worker_of_the_embedded_default_is_told_the_server_and_the_sim() -> None:
    extra = reach(Settings(workers=1), "nats://127.0.0.1:4567", Path("/d/nats/webqueue.creds"))
    assert extra == [
        "--cytube", "sim", "--economy", "local",
        "--nats-url", "nats://127.0.0.1:4567", "--nats-creds", "/d/nats/webqueue.creds",
        "--sim-in-front",
    ]  # fmt: skip
    # The front's own CyTube and economy replace whatever its command line said of them.
    got = worker_argv(["serve", "--cytube", "sim", "--workers", "1"], number=1, port=1,
                      data_dir=Path("w"), front_pid=1, extra=extra)  # fmt: skip
    assert got.count("--cytube") == 1 and got.count("--nats-url") == 1


def test_a_worker_of_a_front_on_kryten_keeps_the_fronts_nats_flags() -> None:
    settings = Settings(workers=1, nats_url="nats://n:4222", cytube="kryten", economy="kryten")
    assert reach(settings, "nats://n:4222", None) == ["--cytube", "kryten", "--economy", "kryten"]


def test_a_worker_count_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="0 to 8"):
        Settings(workers=9)
