"""`webqueue replay` as an analyst runs it, against a data dir whose log holds known commits."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from attrs import frozen

from adapters.log.jetstream_store import JetStreamEventStore
from adapters.nats.embedded_server import EmbeddedNatsServer, pid_alive
from application.log.ports import Commit, StreamId
from application.log.replay import COLUMNS
from domain.media import Media
from domain.presence.model import UserJoined
from domain.queue.events import ItemAdded, ItemMoved, ItemRemoved, NowPlayingChanged
from domain.wallet.model import CreditGranted

CLI = [sys.executable, "-m", "entrypoints.cli.main"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
BULK = 1200  # enough output (well over a pipe's buffer) to see a reader hang up mid-way


@frozen
class Known:
    """The log as written: one expected row per event, in log order."""

    data_dir: Path
    rows: list[dict[str, Any]]
    head: int


def _added(item_id: str, uid: int, title: str, after: str | None) -> ItemAdded:
    return ItemAdded(item_id, uid, Media("yt", f"id-{item_id}", title, 180), False, "sim", after)


def _commits() -> list[Commit]:
    lobby, den = StreamId("lobby", "queue", "lobby"), StreamId("den", "queue", "den")
    people = StreamId("lobby", "presence", "lobby")
    alice = StreamId("lobby", "wallet", "alice")
    bulk = StreamId("bulk", "presence", "bulk")

    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    commits = [
        Commit("c1", lobby, 1, at(0), "cytube", (_added("q1", 1, "One", None), _added("q2", 2, "Two", "q1"))),  # noqa: E501
        Commit("c2", people, 1, at(10), "cytube", (UserJoined("alice", 1.0, False, at(10)),)),
        Commit("c3", den, 1, at(20), "cytube", (_added("q1", 7, "Den one", None),)),
        Commit("c4", lobby, 2, at(30), "cytube", (NowPlayingChanged("q1", 1, at(30)),)),
        Commit("c5", alice, 1, at(40), "boss", (CreditGranted(500, "boss", "grant", 500),)),
        Commit(
            "c6",
            lobby,
            3,
            at(50),
            "cytube",
            (
                ItemRemoved("q2", 2, "deleted"),
                _added("q3", 3, "Three, with \"quotes\"\nand a newline", "q1"),
                ItemMoved("q3", None),
            ),
        ),
    ]  # fmt: skip
    for n in range(BULK):
        joined = UserJoined(f"viewer-{n:05d}-" + "x" * 200, 0.0, False, at(100 + n))
        commits.append(Commit(f"b{n}", bulk, n + 1, at(100 + n), "cytube", (joined,)))
    return commits


def _expected(position: int, commit: Commit) -> list[dict[str, Any]]:
    return [
        {
            "position": position,
            "at": commit.at,
            "channel": commit.stream.channel,
            "aggregate": commit.stream.aggregate,
            "aggregate_id": commit.stream.id,
            "commit_id": commit.commit_id,
            "version": commit.version,
            "actor": commit.actor,
            "type": type(event).__name__,
            "v": 1,
            "data": json.loads(msgspec.json.encode(event)),
        }
        for event in commit.events
    ]


async def _fill(data_dir: Path) -> Known:
    rows: list[dict[str, Any]] = []
    last: dict[StreamId, int] = {}
    with EmbeddedNatsServer(data_dir) as server:
        nc = await nats.connect(server.url, **server.credentials().connect_options())
        try:
            store = JetStreamEventStore(nc)
            await store.ensure_stream()
            for commit in _commits():
                result = await store.append(commit, last.get(commit.stream, 0))
                last[commit.stream] = result.position
                rows.extend(_expected(result.position, commit))
            head = await store.head()
        finally:
            await nc.drain()
    assert not (data_dir / "nats" / "server.json").exists(), "the log's server is stopped"
    return Known(data_dir, rows, head)


@pytest.fixture(scope="module")
async def known(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Known]:
    data_dir = tmp_path_factory.mktemp("replay") / "data"
    yield await _fill(data_dir)
    state = data_dir / "nats" / "server.json"
    if state.exists():  # never leave a server behind, whatever a replay did
        pid = json.loads(state.read_text())["pid"]
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)


def replay(known: Known, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "replay", "--data-dir", str(known.data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def parsed(stdout: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in stdout.splitlines()]
    for row in rows:
        assert tuple(row) == COLUMNS
        row["at"] = datetime.fromisoformat(row["at"])
    return rows


def small(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["channel"] != "bulk"]


def test_every_event_once_in_log_order(known: Known) -> None:
    done = replay(known)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # piped and no terminal: no progress
    rows = parsed(done.stdout)
    assert rows == known.rows
    assert len(rows) == len(known.rows) == 6 + 3 + BULK
    assert [r["position"] for r in rows[:9]] == [1, 1, 2, 3, 4, 5, 6, 6, 6]
    assert rows[-1]["position"] == known.head
    assert not (known.data_dir / "nats" / "server.json").exists(), "its own server is stopped"


def test_since_and_until_by_time_and_by_position(known: Known) -> None:
    lobby = small(known.rows)
    by_time = replay(known, "--since", "2026-01-01T00:00:10Z", "--until", "2026-01-01T00:00:40Z")
    assert by_time.returncode == 0, by_time.stderr
    assert parsed(by_time.stdout) == [r for r in lobby if 2 <= r["position"] <= 4]

    offset = replay(known, "--since", "2026-01-01T01:00:30+01:00", "--until", "2026-01-01T00:01Z")
    assert parsed(offset.stdout) == [r for r in lobby if r["position"] >= 4]

    by_position = replay(known, "--since", "3", "--until", "5")
    assert by_position.returncode == 0, by_position.stderr
    assert parsed(by_position.stdout) == [r for r in lobby if r["position"] in (4, 5)]


def test_type_and_channel_filters(known: Known) -> None:
    kinds = {"ItemAdded", "CreditGranted"}
    done = replay(known, "--type", "ItemAdded", "--type", "CreditGranted")
    assert done.returncode == 0, done.stderr
    assert parsed(done.stdout) == [r for r in known.rows if r["type"] in kinds]

    comma = replay(known, "--type", "ItemAdded,ItemMoved", "--channel", "lobby")
    want = [r for r in known.rows if r["type"] in ("ItemAdded", "ItemMoved")]
    assert parsed(comma.stdout) == [r for r in want if r["channel"] == "lobby"]


def test_csv_to_a_file(known: Known, tmp_path: Path) -> None:
    out = tmp_path / "events.csv"
    done = replay(known, "--format", "csv", "--output", str(out), "--until", "6")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    table = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert tuple(table[0]) == COLUMNS
    want = small(known.rows)
    assert len(table) == 1 + len(want)
    for line, row in zip(table[1:], want, strict=True):
        got = dict(zip(COLUMNS, line, strict=True))
        assert int(got["position"]) == row["position"]
        assert datetime.fromisoformat(got["at"]) == row["at"]
        assert got["at"].endswith("Z")
        assert (got["channel"], got["aggregate"], got["aggregate_id"]) == (
            row["channel"],
            row["aggregate"],
            row["aggregate_id"],
        )
        assert (got["commit_id"], int(got["version"]), got["actor"]) == (
            row["commit_id"],
            row["version"],
            row["actor"],
        )
        assert (got["type"], int(got["v"])) == (row["type"], row["v"])
        assert json.loads(got["data"]) == row["data"]
        assert got["data"] == json.dumps(row["data"], separators=(",", ":"))  # compact JSON


def test_bad_arguments_exit_2_with_a_clear_message(known: Known) -> None:
    unknown = replay(known, "--type", "ItemAddded")
    assert unknown.returncode == 2
    assert "unknown event type 'ItemAddded'" in unknown.stderr
    assert "did you mean ItemAdded" in unknown.stderr
    assert "CreditGranted" in unknown.stderr and "PlaylistCreated" in unknown.stderr

    for args, says in [
        (("--since", "yesterday"), "RFC 3339"),
        (("--until", "2026-01-01T00:00:00"), "no UTC offset"),
        (("--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"), "earlier"),
        (("--format", "xml"), "invalid choice"),
        (("--nats-url", "nats://127.0.0.1:1"), "not allowed with argument --data-dir"),
    ]:
        done = replay(known, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert says in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr

    nowhere = replay(known, "--output", str(known.data_dir / "no" / "such" / "dir" / "x.ndjson"))
    assert nowhere.returncode == 2 and "cannot write" in nowhere.stderr


def test_a_reader_that_hangs_up_early_is_no_error(known: Known) -> None:
    proc = subprocess.Popen(
        [*CLI, "replay", "--data-dir", str(known.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    assert first["position"] == 1
    proc.stdout.close()
    assert proc.wait(60) == 0
    errors = proc.stderr.read().decode()
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
    assert not (known.data_dir / "nats" / "server.json").exists()


def test_a_progress_bar_on_a_terminal_when_rows_go_to_a_file(known: Known, tmp_path: Path) -> None:
    out = tmp_path / "all.ndjson"
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*CLI, "replay", "--data-dir", str(known.data_dir), "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's other side closed: the process is done
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(60) == 0, seen
    finally:
        os.close(leader)
    text = seen.decode()
    assert "replay [" in text and "100.0%" in text, text
    assert f"{len(known.rows)} events" in text
    assert parsed(out.read_text()) == known.rows
