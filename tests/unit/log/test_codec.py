from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import msgspec
import pytest
from attrs import frozen

from adapters.log.codec import Codec, CodecError, UnknownEvent
from application.log.ports import Commit, StreamId
from domain.catalog.diff import Change, SnapshotDiff
from domain.catalog.items import CatalogItem
from domain.catalog.model import ItemsIndexed, RefreshCompleted, RefreshFailed, RefreshStarted
from domain.identity.access import (
    SessionEnded,
    SessionSeen,
    SessionStarted,
    TokenRevoked,
    TokensRevoked,
)
from domain.identity.blessed import UserBlessed, UserUnblessed
from domain.identity.ip_blocks import IpBlocked, IpUnblocked
from domain.identity.otp import (
    OtpAttemptFailed,
    OtpLockedOut,
    OtpRequested,
    OtpSendFailed,
    OtpSent,
    OtpVerified,
    OtpVerifyWithoutRequest,
)
from domain.likes.model import Liked, LikeRules
from domain.likes.rules import LikeRulesChanged
from domain.media import Media
from domain.playlists.apply import (
    ApplyFinished,
    ApplyItemAddStarted,
    ApplyItemFailed,
    ApplyItemQueued,
    ApplyQueueCleared,
    ApplyStarted,
    ApplyTarget,
)
from domain.playlists.marathon import Recipe
from domain.playlists.model import (
    PlaylistCreated,
    PlaylistDeleted,
    PlaylistFlagsSet,
    PlaylistItemsSet,
    PlaylistRenamed,
)
from domain.playlists.names import PlaylistNameClaimed, PlaylistNameReleased
from domain.presence.model import UserAfkChanged, UserJoined, UserLeft, UserRankChanged
from domain.promos.config import GeneralCadence, PromoConfig, PromoConfigChanged
from domain.queue.events import (
    ClearExpected,
    DesyncDetected,
    EmptySnapshotHeld,
    ItemAdded,
    ItemMoved,
    ItemRemoved,
    ItemTempChanged,
    ItemUidRemapped,
    NowPlayingChanged,
    PlaybackClockSet,
    PlaylistCountObserved,
    PlaylistReordered,
    SnapshotReconciled,
)
from domain.queue.order_model import QueueOrderSet
from domain.queue.pay_claim import PurchaseClaimed, PurchaseClaimRefused, PurchaseOpened
from domain.queue.pay_model import (
    PayItemAddStarted,
    PayItemAttached,
    PayItemCancelled,
    PayItemPlayed,
    PayItemPlaying,
    PayItemPositioned,
    PayItemPriceChecked,
    PayItemRefunded,
    PayItemRefundRefused,
    PayItemRemoved,
    PayItemRequested,
    PayItemSlotChosen,
    PayItemUnderpaid,
    PaymentCaptured,
    PaymentDeclined,
    PaymentStarted,
    PaymentToppedUp,
    PaymentVoided,
    PayOwnerAway,
    PayOwnerBack,
    QueueLocked,
    QueueUnlocked,
    ScheduleLockLifted,
    ScheduleLockSet,
)
from domain.queue.promo_model import (
    PromoAddStarted,
    PromoAttached,
    PromoCadenceStarted,
    PromoCancelled,
    PromoChosen,
    PromoDone,
    PromoPlaying,
    PromoPositioned,
)
from domain.registry import ALL_EVENTS
from domain.rules.config import (
    BlockedMedia,
    BlockedUser,
    RequestRefusedByRule,
    RulesChanged,
    RulesConfig,
)
from domain.schedules.model import (
    FireApplyStarted,
    FireFinished,
    FireStartedWith,
    OccurrenceFired,
    OccurrencesMissed,
    ScheduleActiveSet,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleEdited,
    ScheduleSpec,
)
from domain.wallet.keys import KeyDecided, KeyRefunded
from domain.wallet.model import CreditGranted, DebitDeclined, RequestDebited, RequestRefunded

AT = datetime(2026, 11, 20, 21, 30, 15, 123456, tzinfo=UTC)
T0 = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)
SAMPLES: list[Any] = [
    ItemAdded("q1", 7, Media("yt", "x1", "Tïtle ✓", 95), True, "ann", None, "content", "snapshot"),
    ItemAdded("q2", 8, Media("fi", "https://e.x/a.json", "", 0), False, "", "q1"),
    ItemRemoved("q1", 7, "temp_finished"),
    ItemMoved("q2", None),
    ItemTempChanged("q2", True),
    ItemUidRemapped("q2", 8, 80),
    NowPlayingChanged("q2", 80, AT),
    NowPlayingChanged(None, None, None),
    PlaylistReordered(("q2", "q1")),
    EmptySnapshotHeld(3),
    ClearExpected("admin"),
    SnapshotReconciled(3, 1, 1, 0, True),
    SnapshotReconciled(3, 0, 0, 0, False, "robot"),
    PlaylistCountObserved(0, 3),
    DesyncDetected("unknown_current", 9),
    PlaybackClockSet("q1", AT, True, 40.5),
    PayItemRequested("r1", "ann", Media("yt", "p1", "Paid", 300), "playnext", AT),
    PaymentCaptured("r1", 250),
    PaymentDeclined("r2", "insufficient_balance", "Not enough Z"),
    PayItemAddStarted("r1", 1),
    PayItemAttached("r1", "q9", 9),
    PayItemSlotChosen("r1", None),
    PayItemPositioned("r1"),
    PayItemPlaying("r1"),
    PayItemPlayed("r1"),
    PayItemRemoved("r1", "gone_from_playlist"),
    PayItemCancelled("r1", "move_failed", "webqueue"),
    PayItemRefunded("r1", 250, "move_failed"),
    PayItemRefundRefused("r1", "move_failed", "not_found", "No such transaction"),
    QueueLocked("Movie night", AT, "admin"),
    QueueLocked("Maintenance", None, "admin"),
    QueueUnlocked("admin"),
    ScheduleLockSet("s1", "pre_fire", "Movie night", T0, T0 + timedelta(minutes=15), None, "x"),
    ScheduleLockSet("s1", "event", "Movie night", T0, T0, T0 + timedelta(hours=2), "x"),
    ScheduleLockLifted("s1", "last_item_began", "system"),
    ScheduleCreated(
        "s1",
        ScheduleSpec("p1", "Movie night", T0, 3600, None, "p2", True, "FREQ=WEEKLY"),
        15,
        True,
        T0,
        "boss",
        T0,
    ),
    ScheduleEdited("s1", ScheduleSpec("p1", "Film", T0, 60), 15, None, "boss", T0),
    ScheduleActiveSet("s1", False, T0, "boss", T0),
    ScheduleDeleted("s1", "boss", T0),
    OccurrenceFired(
        "s1", "s1-1", T0, "p1", "Film", True, None, T0 + timedelta(hours=1), None, False, "x", T0
    ),
    OccurrencesMissed("s1", (T0, T0 + timedelta(days=1)), T0 + timedelta(days=2), T0),
    FireFinished("s1-1", "admin", "boss", T0),
    FireApplyStarted("s1-1", "s1-1", "event", "system", T0),
    FireApplyStarted("s1-1", "s1-1-fallback", "fallback", "system", T0),
    FireStartedWith("s1-1", 12, Media("yt", "ep1", "Épisode 1", 60), "system", T0),
    PayOwnerAway("ann", "owner_left", AT, AT),
    PromoCadenceStarted(AT),
    PromoChosen("p1", "viewers_choice", "lead_in", Media("yt", "vc1", "VC", 12), "q4", AT, 0),
    PromoAddStarted("p1", 1),
    PromoAttached("p1", "q9", 9),
    PromoPositioned("p1"),
    PromoPlaying("p1"),
    PromoDone("p1", "played"),
    PromoCancelled("p2", "target_cancelled"),
    PromoConfigChanged(PromoConfig(general=GeneralCadence(every_n_items=3)), "admin"),
    PayOwnerBack("ann"),
    RulesChanged(
        RulesConfig(
            max_pending_per_viewer=None,
            exempt_roles=("admin",),
            max_viewer_pending_minutes=12.5,
            blocked_media=(BlockedMedia("yt", "x", "loud"),),
            blocked_users=(BlockedUser("troll", "spam"),),
            fair_order=True,
            exempt_min_rank=2,
        ),
        "admin",
    ),
    LikeRulesChanged(LikeRules(rate_limit=3, rate_window_sec=30, dedupe_window_sec=0), "admin"),
    RequestRefusedByRule("ann", "yt", "abc", "rule_cooldown"),
    RequestRefusedByRule("ann", "yt", "abd", "rule_too_long", "r9", 1800),
    QueueOrderSet(True, "admin"),
    CreditGranted(5000, "admin", "grant", 5000),
    RequestDebited("r1", 250, 4750),
    DebitDeclined("r2", 1000, 4750, "insufficient_balance"),
    RequestRefunded("r1", 250, "move_failed", 5000),
    PurchaseClaimed("r1", "ann", "yt", "abc", "queue", datetime(2026, 11, 20, tzinfo=UTC)),
    PurchaseClaimRefused("r1", "media_on_playlist"),
    PurchaseOpened("r1"),
    PaymentStarted("r1"),
    PaymentVoided("r1"),
    PayItemPriceChecked("r1", 1800, 500),
    PaymentToppedUp("r1", 250),
    PayItemUnderpaid("r1", 250, 1800),
    KeyDecided("wq/lobby/r1/spend", "ann", "debited", 250, 4750),
    KeyDecided("wq/lobby/r2/spend", "ann", "declined", 250, 10, "insufficient_balance"),
    KeyRefunded("wq/lobby/r1/spend", 250, 5000, "owner_left"),
    UserJoined("Bob", 1.5, False, AT),
    UserLeft("Bob", AT),
    UserAfkChanged("Bob", True, AT),
    UserRankChanged("Bob", 1.5, AT),
    PlaylistCreated("Promos ✓", "ann", False, "viewers_choice"),
    PlaylistCreated("Friday", "ann", True, None),
    PlaylistRenamed("Friday night"),
    PlaylistItemsSet((Media("yt", "c1", "Clip", 30), Media("vi", "c2", "", 0))),
    PlaylistItemsSet(()),
    PlaylistFlagsSet(True, "feature_presentation"),
    PlaylistFlagsSet(False, None),
    PlaylistDeleted("ann"),
    PlaylistCreated(
        "Marathon", "bea", False, None, AT, "p0", Recipe("interleave", ("p1", "p2"), "A2 B", None)
    ),
    PlaylistCreated("Shuffled", "bea", False, None, AT, None, Recipe("shuffle", ("p1",), None, 42)),
    PlaylistItemsSet((Media("cm", "https://x/1.json", "S01E01", 1500),), ("cat-1",), "bea", AT),
    PlaylistRenamed("Later", "bea", AT),
    PlaylistFlagsSet(False, "event", "bea", AT),
    PlaylistDeleted("bea", AT),
    PlaylistNameClaimed("fridaynight", "Friday Night", "p1"),
    PlaylistNameReleased("p1"),
    ApplyStarted(
        "x1",
        "p1",
        "Friday",
        "hard_replace",
        "boss",
        (Media("yt", "a", "A", 60), Media("cm", "https://x/2.json", "B", 90)),
        (None, "cat-2"),
        (ApplyTarget("q3", 7, Media("yt", "old", "Old", 30), "r9"),),
        ((1, "catalog item cat-2 is unavailable"),),
        AT,
    ),
    ApplyQueueCleared("x1", 1, ("q4",)),
    ApplyItemAddStarted("x1", 0, 1),
    ApplyItemQueued("x1", 0, 12),
    ApplyItemQueued("x1", 0, None),
    ApplyItemFailed("x1", 1, "refused", "Invalid manifest ✗"),
    ApplyFinished("x1", "p1", 1, 1, at=AT),
    ApplyFinished("x1", "p1", 0, 0, True, "aborted by boss", AT),
    OtpRequested("c1", "Bob", "127.0.0.1", "ab" * 32, "k1", AT, AT),
    OtpSent("c1", AT),
    OtpSendFailed("c1", "not_in_channel", AT),
    OtpAttemptFailed("c1", "::1", "wrong", 2, AT),
    OtpVerified("c1", "Bob", "::1", AT),
    OtpVerifyWithoutRequest("Bob", "10.0.0.9", AT),
    OtpLockedOut("Bob", 5, AT, AT),
    SessionStarted("h" * 64, "Bob", "::1", "Firefox", AT, 3600, AT),
    SessionSeen("h" * 64, AT),
    SessionEnded("h" * 64, "signed_out", "Bob", AT),
    TokensRevoked("Bob", AT, "boss", AT),
    TokenRevoked("0123abcd", AT, "boss", AT),
    UserBlessed("Bob", "boss", AT),
    UserUnblessed("Bob", "boss", AT),
    IpBlocked("10.0.0.9", AT, "not_requested", "anonymous", AT),
    IpUnblocked("10.0.0.9", "boss", AT),
    Liked("Bob", "q7", Media("cu", "https://e.x/a.mp4", "Tïtle", 60), AT, AT - timedelta(days=1)),
    RefreshStarted("r1", "MediaCMS at m.example", "host:abc", "boss", AT),
    ItemsIndexed(
        "r1",
        0,
        (
            CatalogItem(
                "v1",
                "v1",
                "Häxan",
                ("Horror",),
                ("silent",),
                6000,
                "https://m.example/t.jpg",
                AT,
                "https://m.example/api/v1/media/cytube/v1.json?format=json",
            ),
            CatalogItem("~1-lost", "", "Lost", available=False, unavailable_reason="no id"),
        ),
        AT,
    ),
    RefreshCompleted(
        "r1", 2, 1, SnapshotDiff(1, 0, 0, (Change("v1", "Häxan", "added"),)), ("capped",), AT
    ),
    RefreshFailed("r2", "MediaCMS at m.example: refused", AT),
]


def commit(*events: Any) -> Commit:
    return Commit(
        commit_id="c-1",
        stream=StreamId("My Channel", "queue", "My Channel"),
        version=3,
        at=AT,
        actor="cytube",
        events=events,
        causation_id="cause",
        correlation_id=None,
    )


def test_every_registered_event_type_has_a_round_trip_sample() -> None:
    assert {type(e) for e in SAMPLES} == set(ALL_EVENTS)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_event_round_trips_through_a_commit(event: Any) -> None:
    codec = Codec()
    assert codec.decode_commit(codec.encode_commit(commit(event))) == commit(event)


def test_events_are_tagged_with_type_and_version_on_the_wire() -> None:
    wire = msgspec.json.decode(Codec().encode_commit(commit(SAMPLES[3])))
    assert wire["events"] == [
        {"type": "ItemMoved", "v": 1, "data": {"item_id": "q2", "after_item_id": None}}
    ]
    assert wire["channel"] == "My Channel" and wire["aggregate"] == "queue"


@frozen
class Renamed:
    """v2 of an event whose v1 called the field `who`."""

    VERSION: ClassVar[int] = 2
    by: str


def test_an_old_version_is_upcast_before_decoding() -> None:
    old = Codec({"Renamed": Renamed}).encode_commit(commit())
    wire = msgspec.json.decode(old)
    wire["events"] = [{"type": "Renamed", "v": 1, "data": {"who": "ann"}}]
    codec = Codec({"Renamed": Renamed}, {("Renamed", 1): lambda d: {"by": d["who"]}})
    assert codec.decode_commit(msgspec.json.encode(wire)).events == (Renamed("ann"),)


def test_an_old_version_without_an_upcaster_is_an_error_not_a_guess() -> None:
    wire = msgspec.json.decode(Codec().encode_commit(commit()))
    wire["events"] = [{"type": "Renamed", "v": 1, "data": {"who": "ann"}}]
    with pytest.raises(CodecError):
        Codec({"Renamed": Renamed}).decode_commit(msgspec.json.encode(wire))


def test_a_refusal_written_before_it_named_a_purchase_still_decodes() -> None:
    wire = msgspec.json.decode(Codec().encode_commit(commit()))
    data = {"user": "ann", "media_type": "yt", "media_id": "abc", "code": "rule_cooldown"}
    wire["events"] = [{"type": "RequestRefusedByRule", "v": 1, "data": data}]
    decoded = Codec().decode_commit(msgspec.json.encode(wire))
    assert decoded.events == (RequestRefusedByRule("ann", "yt", "abc", "rule_cooldown"),)


def test_an_event_type_this_build_does_not_know_survives_replay() -> None:
    wire = msgspec.json.decode(Codec().encode_commit(commit()))
    wire["events"] = [{"type": "FromTheFuture", "v": 3, "data": {"x": 1}}]
    decoded = Codec().decode_commit(msgspec.json.encode(wire))
    assert decoded.events == (UnknownEvent("FromTheFuture", 3, {"x": 1}),)
    assert msgspec.json.decode(Codec().encode_commit(decoded))["events"] == wire["events"]


@pytest.mark.parametrize("junk", [b"", b"{}", b"[1,2]", b'{"commit_id": 5}', b"\xff\xfe"])
def test_bytes_that_are_not_a_commit_raise_codec_error(junk: bytes) -> None:
    with pytest.raises(CodecError):
        Codec().decode_commit(junk)


def test_a_schedules_log_from_before_fire_records_decodes_and_replays() -> None:
    """A log written before a fire recorded its apply and the item that started it: the same
    wire bytes decode, and the fires it folds to have none of them (the listing shows null)."""
    from domain.schedules.model import schedules_decider

    spec = {
        "playlist_id": "p1",
        "label": "Film",
        "fire_at": "2026-11-20T19:00:00Z",
        "duration_sec": 60,
        "lock_minutes": None,
        "fallback_playlist_id": None,
        "immutable": True,
        "rrule": "FREQ=DAILY",
    }
    fired = {
        "schedule_id": "s1",
        "fire_id": "s1-1",
        "occurrence_at": "2026-11-20T19:00:00Z",
        "playlist_id": "p1",
        "label": "Film",
        "immutable": True,
        "fallback_playlist_id": None,
        "estimated_end_at": "2026-11-20T19:01:00Z",
        "next_at": "2026-11-21T19:00:00Z",
        "manual": False,
        "by": "system",
        "at": "2026-11-20T19:00:00Z",
    }
    wire = msgspec.json.decode(Codec().encode_commit(commit()))
    wire["events"] = [
        {
            "type": "ScheduleCreated",
            "v": 1,
            "data": {
                "schedule_id": "s1",
                "spec": spec,
                "lock_minutes": 15,
                "active": True,
                "next_at": "2026-11-20T19:00:00Z",
                "by": "boss",
                "at": "2026-11-20T12:00:00Z",
            },
        },
        {"type": "OccurrenceFired", "v": 1, "data": fired},
        {
            "type": "FireFinished",
            "v": 1,
            "data": {"fire_id": "s1-1", "reason": "admin", "by": "boss", "at": fired["at"]},
        },
    ]
    events = Codec().decode_commit(msgspec.json.encode(wire)).events
    state = schedules_decider.fold("lobby", list(events))
    (fire,) = state.fires
    assert (fire.apply_id, fire.fallback_apply_id, fire.starts_with) == (None, None, None)
    assert fire.finish_reason == "admin"
    schedule = state.find("s1")
    assert schedule is not None and schedule.spent_through == T0
    assert schedule.next_at == T0 + timedelta(days=1)
