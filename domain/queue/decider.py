"""decide(): turns a CyTube observation into facts about the queue, or refuses it."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.decider import Context, Decider
from domain.errors import Rejected
from domain.media import validate_media, validate_uid
from domain.queue.commands import (
    ExpectClear,
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
    ObservePlaybackPosition,
    ObservePlaylist,
    ObservePlaylistCount,
    ObserveTempChanged,
    QueueCommand,
)
from domain.queue.events import (
    ClearExpected,
    DesyncDetected,
    ItemAdded,
    ItemMoved,
    ItemRemoved,
    ItemTempChanged,
    NowPlayingChanged,
    PlaybackClockSet,
    PlaylistCountObserved,
    QueueEvent,
    RemovalReason,
)
from domain.queue.order_model import QueueOrderSet, SetQueueOrder
from domain.queue.pay_decide import decide_pay, follow_ups
from domain.queue.pay_model import (
    AbandonPayItemAdd,
    AttachPayItem,
    CancelPayItem,
    ChoosePayItemSlot,
    CutOffPayItem,
    FailPayItem,
    LiftScheduleLock,
    LockQueue,
    NoteOwnerAway,
    NoteOwnerBack,
    PayCommand,
    PayEvent,
    RecheckPayRules,
    RecordPaymentCaptured,
    RecordPaymentDeclined,
    RecordPriceChecked,
    RecordRefund,
    RecordRefundRefused,
    RecordTopUp,
    RecordUnderpaid,
    RequestPayItem,
    SetScheduleLock,
    StartPayItemAdd,
    StartPayment,
    UnlockQueue,
    VoidPayment,
)
from domain.queue.pay_rules import decide_order
from domain.queue.promo_decide import decide_promo
from domain.queue.promo_model import (
    DirectPromos,
    FailPromo,
    PromoCommand,
    PromoEvent,
    StartPromoAdd,
)
from domain.queue.reconcile import cleared, reconcile
from domain.queue.state import QueueState, evolve, initial

#: How far CyTube's reported playback position may be from the log's clock before the clock
#: is set again (mediaUpdate comes every 5 s; our receipt of it jitters by milliseconds).
CLOCK_TOLERANCE_SEC = 2.0
#: The most negative position a start may have: CyTube's lead-in is -3 s.
MAX_LEAD_IN_SEC = 30.0


def item_id_for(seq: int) -> str:
    return f"q{seq}"


def _decide_queued(state: QueueState, cmd: ObserveItemQueued) -> tuple[QueueEvent, ...]:
    validate_uid(cmd.uid)
    validate_media(cmd.media)
    held = state.by_uid(cmd.uid)
    if held is not None:
        if held.media.key == cmd.media.key:
            return ()
        raise Rejected(
            "uid_conflict",
            f"CyTube reported uid {cmd.uid} for {cmd.media.type}:{cmd.media.id}, but the queue "
            f"holds {held.media.type}:{held.media.id} under that uid; a snapshot will reconcile.",
        )
    events: list[QueueEvent] = []
    if cmd.after == "prepend":
        after: str | None = None
    elif cmd.after is None or (anchor := state.by_uid(cmd.after)) is None:
        after = state.items[-1].item_id if state.items else None
        if cmd.after is not None:  # CyTube placed it after an item we do not hold
            events.append(DesyncDetected("unknown_after", cmd.after))
    else:
        after = anchor.item_id
    item_id = item_id_for(state.next_seq)
    added = ItemAdded(
        item_id=item_id,
        uid=cmd.uid,
        media=cmd.media,
        temp=cmd.temp,
        queued_by=cmd.queued_by,
        after_item_id=after,
    )
    events.insert(0, added)
    if state.now_playing is None and state.now_playing_uid == cmd.uid:
        # CyTube named it playing before we held it: now we do, link it (its clock stays).
        events.append(NowPlayingChanged(item_id, cmd.uid, state.playing_since))
    return tuple(events)


def _unknown(uid: int) -> Rejected:
    return Rejected("unknown_item", f"No item with uid {uid} is in the queue.")


def _decide_moved(state: QueueState, cmd: ObserveItemMoved) -> tuple[QueueEvent, ...]:
    moving = state.by_uid(cmd.uid)
    if moving is None:
        raise _unknown(cmd.uid)
    rest = [i for i in state.items if i.item_id != moving.item_id]
    if cmd.after == "prepend":
        after: str | None = None
    elif cmd.after == "append":
        after = rest[-1].item_id if rest else None
    elif cmd.after == cmd.uid:
        return ()
    else:
        anchor = state.by_uid(cmd.after)
        if anchor is None:
            raise _unknown(cmd.after)
        after = anchor.item_id
    index = state.index_of(moving.item_id)
    current_after = state.items[index - 1].item_id if index else None
    if current_after == after:
        return ()
    return (ItemMoved(item_id=moving.item_id, after_item_id=after),)


def _played_out(state: QueueState, ctx: Context) -> bool:
    """Has the current item had its full length? CyTube reports a temp item's end as a delete
    (before the next setCurrent), and a lone looping item as the same uid starting again."""
    current = state.current
    if current is None or state.playing_since is None or current.media.duration_sec <= 0:
        return False
    return ctx.now >= state.playing_since + timedelta(seconds=current.media.duration_sec)


def _decide_now_playing(
    state: QueueState, cmd: ObserveNowPlaying, ctx: Context
) -> tuple[QueueEvent, ...]:
    if cmd.uid is not None:
        validate_uid(cmd.uid)
    if cmd.elapsed_sec < -MAX_LEAD_IN_SEC or cmd.elapsed_sec != cmd.elapsed_sec:
        raise Rejected(
            "invalid_elapsed",
            f"Elapsed playback time must be at least -{MAX_LEAD_IN_SEC:g} s (a lead-in).",
        )
    if cmd.uid is not None and cmd.uid == state.now_playing_uid and not _played_out(state, ctx):
        return ()  # the same start reported again, not a new one
    events: list[QueueEvent] = []
    previous = state.current
    if previous is not None and previous.temp and previous.uid != cmd.uid:
        events.append(ItemRemoved(previous.item_id, previous.uid, "temp_finished"))
    target = None if cmd.uid is None else state.by_uid(cmd.uid)
    started = None if cmd.uid is None else ctx.now - timedelta(seconds=cmd.elapsed_sec)
    events.append(
        NowPlayingChanged(
            item_id=None if target is None else target.item_id, uid=cmd.uid, started_at=started
        )
    )
    if cmd.uid is not None and target is None:
        events.append(DesyncDetected("unknown_current", cmd.uid))
    return tuple(events)


def _decide_position(
    state: QueueState, cmd: ObservePlaybackPosition, ctx: Context
) -> tuple[QueueEvent, ...]:
    """Set the clock from CyTube's own position: a start at -3 s (the lead-in), a rejoin or
    restart mid-item, drift. A paused position below 0 is the lead-in, not a pause."""
    position = cmd.current_time
    if position != position or abs(position) > 10 * 24 * 3600:
        raise Rejected("invalid_position", "A playback position must be a number of seconds.")
    current = state.current
    named = None if cmd.media_id is None else (cmd.media_type or "", cmd.media_id)
    if current is None:
        if named is not None and state.now_playing_uid is None and state.items:
            return (DesyncDetected("media_without_current"),)
        return ()
    if named is not None and named != current.media.key:
        return (DesyncDetected("media_mismatch", state.now_playing_uid),)
    paused = cmd.paused and position > 0
    started = ctx.now - timedelta(seconds=position)
    if _clock_agrees(state, paused, position, started):
        return ()
    return (PlaybackClockSet(current.item_id, started, paused, position),)


def _clock_agrees(state: QueueState, paused: bool, position: float, started: datetime) -> bool:
    """Within the tolerance, and paused or not alike. While paused the position stands still,
    so each update re-sets the clock (the view keeps counting between two of them)."""
    if paused != state.playback_paused:
        return False
    since = state.playing_since
    return since is not None and abs((started - since).total_seconds()) <= CLOCK_TOLERANCE_SEC


def _decide_count(state: QueueState, cmd: ObservePlaylistCount) -> tuple[QueueEvent, ...]:
    if cmd.count < 0:
        raise Rejected("invalid_count", "A playlist count cannot be negative.")
    if cmd.count == len(state.items):
        if cmd.count == 0 and (state.now_playing_uid is not None or state.empty_snapshot_held):
            return cleared(state)
        return ()
    if cmd.count == 0 and state.empty_snapshot_held:
        return cleared(state)  # an empty snapshot and CyTube counting 0: two words
    if state.counted == cmd.count:
        return ()
    return (PlaylistCountObserved(cmd.count, len(state.items)),)


AnyQueueCommand = QueueCommand | PayCommand | PromoCommand | SetQueueOrder
AnyQueueEvent = QueueEvent | PayEvent | PromoEvent | QueueOrderSet


def decide(state: QueueState, command: AnyQueueCommand, ctx: Context) -> tuple[AnyQueueEvent, ...]:
    """Every decision ends with the pay and promo facts it implies (attached, positioned…)."""
    events: tuple[AnyQueueEvent, ...]
    if isinstance(command, PAY_COMMANDS):
        events = decide_pay(state, command, ctx)
    elif isinstance(command, (DirectPromos, StartPromoAdd, FailPromo)):
        events = decide_promo(state, command, ctx)
    elif isinstance(command, SetQueueOrder):
        events = decide_order(state, command)
    else:
        events = _decide_observation(state, command, ctx)
    if not events:
        return ()
    return (*events, *follow_ups(state, events))


def _decide_observation(
    state: QueueState, command: QueueCommand, ctx: Context
) -> tuple[QueueEvent, ...]:
    match command:
        case ObserveItemQueued():
            return _decide_queued(state, command)
        case ObserveItemDeleted():
            validate_uid(command.uid)
            held = state.by_uid(command.uid)
            if held is None:
                if any(d[0] == command.uid for d in state.deleted_since_broadcast):
                    return ()  # the same delete again (or CyTube's after a temp item ended)
                return (DesyncDetected("unknown_deleted", command.uid),)
            reason: RemovalReason = "deleted"
            if held.temp and held.item_id == state.now_playing and _played_out(state, ctx):
                reason = "temp_finished"
            return (ItemRemoved(held.item_id, held.uid, reason),)
        case ObserveItemMoved():
            return _decide_moved(state, command)
        case ObserveTempChanged():
            held = state.by_uid(command.uid)
            if held is None:
                raise _unknown(command.uid)
            if held.temp == command.temp:
                return ()
            return (ItemTempChanged(held.item_id, command.temp),)
        case ObserveNowPlaying():
            return _decide_now_playing(state, command, ctx)
        case ObservePlaylist():
            return reconcile(state, command, ctx, item_id_for)
        case ObservePlaybackPosition():
            return _decide_position(state, command, ctx)
        case ObservePlaylistCount():
            return _decide_count(state, command)
        case ExpectClear():
            return (ClearExpected(by=command.by),)
    raise Rejected("unknown_command", f"The queue does not handle {type(command).__name__}.")


PAY_COMMANDS = (
    RequestPayItem,
    NoteOwnerAway,
    NoteOwnerBack,
    AbandonPayItemAdd,
    RecordPaymentCaptured,
    RecordPaymentDeclined,
    StartPayItemAdd,
    AttachPayItem,
    ChoosePayItemSlot,
    FailPayItem,
    CancelPayItem,
    CutOffPayItem,
    RecordRefund,
    RecordRefundRefused,
    LockQueue,
    UnlockQueue,
    SetScheduleLock,
    LiftScheduleLock,
    StartPayment,
    VoidPayment,
    RecordPriceChecked,
    RecordTopUp,
    RecordUnderpaid,
    RecheckPayRules,
)

queue_decider: Decider[QueueState, AnyQueueCommand, AnyQueueEvent] = Decider(
    aggregate="queue", initial=initial, decide=decide, evolve=evolve
)
