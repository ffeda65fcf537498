"""The catalog's pure parts: availability and its reasons, text folding, the diff, and the
refresh decider (one at a time, batches in order, a snapshot complete or not current, an
interrupted or silent refresh failed and replaced in one decision)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.catalog.diff import MAX_LISTED, diff
from domain.catalog.items import make_item
from domain.catalog.model import (
    CompleteRefresh,
    FailRefresh,
    IndexItems,
    ItemsIndexed,
    RefreshCompleted,
    RefreshFailed,
    RefreshStarted,
    StartRefresh,
    catalog_decider,
)
from domain.catalog.text import fold
from domain.decider import Context
from domain.errors import Rejected

NOW = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
T = "https://m.example/api/v1/media/cytube/{video_id}.json?format=json"


def it(video_id: str, title: str = "A title", **kw: object) -> object:
    kw.setdefault("duration_sec", 600)
    return make_item(video_id=video_id, title=title, ordinal=0, manifest_template=T, **kw)  # type: ignore[arg-type]


def test_fold_keeps_no_character_a_database_refuses() -> None:
    assert fold("ab\x00cd") == "ab cd"  # a NUL ends an FTS5 string and PostgreSQL's text
    assert fold("x\ud800y") == "x y"  # a lone surrogate cannot be encoded for either
    assert fold("soft\u00adhyphen zero\u200bwidth") == "softhyphen zerowidth"
    assert fold("\u00b8\x00") == ""


def test_fold_ignores_case_accents_and_spacing() -> None:
    assert fold("  Häxan  ") == "haxan"
    assert fold("AMÉLIE  Poulain") == "amelie poulain"
    assert fold("Ærø Straße") == "aero strasse"


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"video_id": ""}, "no video id"),
        ({"video_id": "has space"}, "not valid"),
        ({"duration_sec": 0}, "duration is not known"),
        ({"state": "private"}, "private"),
        ({"encoding_status": "fail"}, "encoding: fail"),
        ({"media_type": "image"}, "an image"),
        ({"is_reviewed": False}, "not been reviewed"),
    ],
)
def test_an_unplayable_item_is_kept_with_its_reason(kw: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {"video_id": "abc123", "duration_sec": 600, **kw}
    item = make_item(title="X", ordinal=3, manifest_template=T, **args)  # type: ignore[arg-type]
    assert not item.available and reason in (item.unavailable_reason or "")
    assert item.key  # still listed


def test_a_playable_item_has_its_manifest_url() -> None:
    item = make_item(
        video_id="Ab_9-z",
        title="  Night   of the Living Dead ",
        ordinal=0,
        manifest_template=T,
        categories=("Horror", "horror", " Public  Domain "),
        duration_sec=5000,
    )
    assert item.available and item.key == "Ab_9-z"
    assert item.manifest_url == "https://m.example/api/v1/media/cytube/Ab_9-z.json?format=json"
    assert item.title == "Night of the Living Dead"
    assert item.categories == ("Horror", "Public Domain")  # duplicates by folding dropped
    assert make_item(video_id="", title="Lost", ordinal=7, manifest_template=T).manifest_url is None


def test_diff_names_added_removed_and_changed_fields() -> None:
    old = {i.key: i for i in (it("a"), it("b"), it("c", duration_sec=60))}  # type: ignore[attr-defined]
    new = {i.key: i for i in (it("a"), it("c", duration_sec=90, title="C!"), it("d"))}  # type: ignore[attr-defined]
    change = diff(old, new)
    assert (change.added, change.removed, change.changed) == (1, 1, 1)
    kinds = {(c.key, c.kind, c.fields) for c in change.changes}
    assert kinds == {
        ("d", "added", ()),
        ("b", "removed", ()),
        ("c", "changed", ("title", "duration_sec")),
    }
    assert diff(new, new).empty


def test_diff_counts_all_but_names_a_bounded_number() -> None:
    many = {f"v{n}": it(f"v{n}") for n in range(MAX_LISTED + 50)}
    change = diff({}, many)  # type: ignore[arg-type]
    assert change.added == MAX_LISTED + 50 and len(change.changes) == MAX_LISTED


def run(events: list[object], command: object, now: datetime = NOW) -> tuple[object, ...]:
    state = catalog_decider.fold("lobby", events)  # type: ignore[arg-type]
    return catalog_decider.decide(state, command, Context(now=now))  # type: ignore[arg-type]


START = RefreshStarted("r1", "demo", "node-a", "boss", NOW)


def test_a_refresh_goes_started_batches_completed() -> None:
    assert run([], StartRefresh("r1", "demo", "node-a", "boss")) == (START,)
    batch = (it("a"), it("b", duration_sec=0))
    (indexed,) = run([START], IndexItems("r1", 0, batch))  # type: ignore[arg-type]
    assert indexed == ItemsIndexed("r1", 0, batch, NOW)  # type: ignore[arg-type]
    (done,) = run([START, indexed], CompleteRefresh("r1", 2, diff({}, {})))
    assert isinstance(done, RefreshCompleted) and (done.item_count, done.available_count) == (2, 1)
    state = catalog_decider.fold("lobby", [START, indexed, done])  # type: ignore[list-item]
    assert state.current == "r1" and state.running is None and state.current_count == 2


def test_batches_in_order_a_repeat_ignored_and_a_snapshot_complete_or_not_at_all() -> None:
    b0 = ItemsIndexed("r1", 0, (it("a"),), NOW)  # type: ignore[arg-type]
    assert run([START, b0], IndexItems("r1", 0, (it("a"),))) == ()  # type: ignore[arg-type]
    with pytest.raises(Rejected) as gap:
        run([START, b0], IndexItems("r1", 2, ()))
    assert gap.value.code == "batch_out_of_order"
    with pytest.raises(Rejected) as half:
        run([START, b0], CompleteRefresh("r1", 5, diff({}, {})))
    assert half.value.code == "incomplete_snapshot"
    with pytest.raises(Rejected) as none:
        run([], IndexItems("r9", 0, ()))
    assert none.value.code == "no_refresh_running"


def test_one_refresh_at_a_time_unless_the_running_one_is_dead() -> None:
    with pytest.raises(Rejected) as busy:
        run([START], StartRefresh("r2", "demo", "node-b", "boss", stale_after_sec=300))
    assert busy.value.code == "refresh_running"
    # node-b takes over once node-a's refresh has been silent long enough
    later = NOW + timedelta(seconds=301)
    failed, started = run(
        [START], StartRefresh("r2", "demo", "node-b", "boss", stale_after_sec=300), later
    )
    assert isinstance(failed, RefreshFailed) and "no progress for 301 s" in failed.reason
    assert isinstance(started, RefreshStarted) and started.refresh_id == "r2"
    # node-a restarted: its own running refresh is certainly dead
    failed, _ = run([START], StartRefresh("r3", "demo", "node-a", "system:start"))
    assert isinstance(failed, RefreshFailed) and failed.reason.startswith("Interrupted")


def test_a_failed_refresh_keeps_the_current_snapshot() -> None:
    done = RefreshCompleted("r1", 0, 0, diff({}, {}), (), NOW)
    second = RefreshStarted("r2", "demo", "node-a", "boss", NOW)
    (failed,) = run([START, done, second], FailRefresh("r2", "MediaCMS at m: refused"))
    state = catalog_decider.fold("lobby", [START, done, second, failed])  # type: ignore[list-item]
    assert state.current == "r1" and state.running is None
    with pytest.raises(Rejected) as again:
        run([START, done, second, failed], CompleteRefresh("r2", 0, diff({}, {})))
    assert again.value.code == "refresh_finished"
    with pytest.raises(Rejected):
        run([START, done], StartRefresh("r1", "demo", "node-a", "boss"))  # ids are not reused
