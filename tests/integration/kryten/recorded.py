"""Replaying what the real CyTube 3.86.0 and Kryten-Robot 1.12.6 sent (tests/fixtures/kryten/).

Each fixture is one recorded scenario: the robot's events and lifecycle messages as published,
its KV bucket puts, every request/reply made to the robot, and the playlist CyTube itself held
at checkpoints (`cytube_playlist`, rebuilt from the channel owner's socket.io events). A replay
publishes them on the session's real nats-server under a channel name of its own, puts the KV
values into a real JetStream KV bucket named as the robot names it, and answers
`kryten.robot.command` the way the robot did: `state.playlist` from its memory (the last KV
`items` put, which is what the robot keeps, uid-0 and setTemp faults included), `state.user`
from the recorded replies, `system.ping` with a pong. The clock of the decisions is a virtual
one moved to each message's recorded time, so timings replay exactly, instantly.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig
from nats.js.kv import KeyValue

from adapters.kryten.inbound import KrytenInbound
from adapters.kryten.robot import KrytenRobot
from adapters.log.memory_store import InMemoryEventStore
from application.cytube.observing import Observer
from application.cytube.resync import Resync, ResyncConfig
from application.log.command_handler import CommandHandler
from application.log.streams import presence_stream, queue_stream
from application.queue.shadow import rows_for
from application.queue.view import QueueView, build_view
from domain.presence.model import PresenceState, presence_decider
from domain.queue.decider import queue_decider
from domain.queue.state import QueueState

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kryten"
START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
WAIT = 5.0


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def steps(doc: dict[str, Any], kind: str) -> Iterator[dict[str, Any]]:
    for step in doc["steps"]:
        if kind in step:
            yield step


def truth(doc: dict[str, Any], label: str) -> dict[str, Any]:
    """CyTube's own playlist at a checkpoint: `{current, items: [{uid, title, temp}]}`."""
    found: dict[str, Any] = next(
        s["value"] for s in steps(doc, "cytube_playlist") if s["cytube_playlist"] == label
    )
    return found


def at_of(doc: dict[str, Any], label: str) -> float:
    """When a checkpoint (cytube_playlist, kv_dump or note) was taken."""
    for step in doc["steps"]:
        if label in (step.get("cytube_playlist"), step.get("kv_dump"), step.get("note")):
            return float(step["at"])
    raise KeyError(label)


class RecordedClock:
    """Decisions happen at each message's recorded time (the Clock port, set by the replay)."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = max(self._now, when)

    async def sleep(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def eventually(check: Callable[[], bool], what: str, within: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.005)


class Replay:
    """One recorded scenario, played into a real KrytenInbound + KrytenRobot on real NATS."""

    def __init__(self, nc: Client, name: str) -> None:
        self.nc = nc
        self.doc = load(name)
        self.recorded_channel = self.doc["channel"]
        self.domain = self.doc["domain"]
        self.channel = f"rec_{uuid.uuid4().hex[:10]}"
        self.prefix = f"t{uuid.uuid4().hex[:8]}.events"
        self.lifecycle = f"t{uuid.uuid4().hex[:8]}.lifecycle.robot"
        self.robot_subject = f"t{uuid.uuid4().hex[:8]}.robot.command"
        self.clock = RecordedClock(START)
        self.store = InMemoryEventStore()
        self.handler = CommandHandler(self.store, self.clock)
        self.observer = Observer(self.handler)
        self.robot = KrytenRobot(
            nc, domain=self.domain, subject=self.robot_subject, timeout=1.0, probe_timeout=0.5
        )
        self.resync = Resync(
            self.robot,
            self.observer,
            self.clock,
            config=ResyncConfig(retry_sec=0.05, retry_max_sec=0.2, settle_sec=0.0),
        )
        self.observer.set_desync_hook(self.resync.hook)
        self.inbound = KrytenInbound(
            nc, self.channel, self.observer, domain=self.domain, prefix=self.prefix
        )
        self.kv: KeyValue | None = None
        self.memory: list[Any] | None = None  # the robot's playlist as it holds it
        self.answering = True  # False: the robot is away (no reply at all)
        self.commands: list[dict[str, Any]] = []
        self.position = 0  # index of the next step to play
        self._sub: Any = None

    # ---- setting up --------------------------------------------------------------------------

    async def start(self, *, listen: bool = True) -> Replay:
        js = self.nc.jetstream()
        self.kv = await js.create_key_value(
            KeyValueConfig(bucket=f"kryten_{self.channel}_playlist", history=1)
        )
        self._sub = await self.nc.subscribe(self.robot_subject, cb=self._answer)
        if listen:
            await self.inbound.start()
        return self

    async def stop(self) -> None:
        await self.inbound.stop()
        await self.resync.close()
        await self.observer.close()
        if self._sub is not None:
            await self._sub.unsubscribe()
        js = self.nc.jetstream()
        await js.delete_key_value(f"kryten_{self.channel}_playlist")

    # ---- the robot ---------------------------------------------------------------------------

    async def _answer(self, msg: Msg) -> None:
        request = json.loads(msg.data)
        self.commands.append(request)
        if not self.answering:
            return
        command = request.get("command")
        data: Any
        if command == "state.playlist":
            if self.memory is None:
                return  # before the robot joined CyTube its state handler is not subscribed
            data = {"playlist": self.memory}
        elif command == "state.user":
            data = self._recorded_user(request.get("username"))
        elif command == "system.ping":
            data = {"pong": True, "service": "robot", "version": "1.12.6"}
        else:
            return  # an unknown command: no reply, as the robot does
        body = {"service": "robot", "command": command, "success": True, "data": data}
        await msg.respond(json.dumps(body).encode())

    def _recorded_user(self, username: str | None) -> Any:
        for step in steps(self.doc, "command"):
            if step["command"] == "state.user" and step["request"].get("username") == username:
                return step["reply"]["data"]
        return {"user": None, "profile": None}

    # ---- playing -----------------------------------------------------------------------------

    def _subject(self, recorded: str) -> str:
        if recorded.startswith("kryten.events.cytube."):
            event = recorded.rsplit(".", 1)[-1]
            return f"{self.prefix}.{self.channel}.{event}"
        if recorded.startswith("kryten.lifecycle.robot."):
            return f"{self.lifecycle}.{recorded.rsplit('.', 1)[-1]}"
        return recorded

    def _body(self, body: Any) -> bytes:
        if isinstance(body, dict) and body.get("channel") == self.recorded_channel:
            body = {**body, "channel": self.channel}
        return json.dumps(body).encode()

    async def play(
        self,
        *,
        until: float | None = None,
        events: bool = True,
        kv: bool = True,
        lifecycle: bool = True,
        skip: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Play the next steps (up to recorded time `until`), each at its recorded time."""
        doc_steps = self.doc["steps"]
        while self.position < len(doc_steps):
            step = doc_steps[self.position]
            if until is not None and step["at"] > until:
                return
            self.position += 1
            self.clock.set(START + timedelta(seconds=step["at"]))
            if skip is not None and skip(step):
                continue
            if "kv" in step and kv:
                await self.put_kv(step["kv"], step["value"])
            elif "subject" in step:
                subject = step["subject"]
                is_event = subject.startswith("kryten.events.")
                if (is_event and not events) or (not is_event and not lifecycle):
                    continue
                before = self.inbound.stats.handled
                await self.nc.publish(self._subject(subject), self._body(step["body"]))
                if is_event:
                    await eventually(
                        lambda b=before: self.inbound.stats.handled > b,  # type: ignore[misc]
                        f"{subject} handled",
                    )
                else:
                    await self.nc.flush()

    async def put_kv(self, key: str, value: Any) -> None:
        _bucket, name = key.split(".", 1)
        if not _bucket.endswith("_playlist"):
            return
        assert self.kv is not None
        await self.kv.put(name, json.dumps(value).encode())
        if name == "items":
            self.memory = value

    async def seed_from(self, label: str) -> None:
        """The robot's memory and KV as the recording's `kv_dump:{label}` shows them."""
        dump = next(s["value"] for s in steps(self.doc, "kv_dump") if s["kv_dump"] == label)
        await self.put_kv("x_playlist.items", dump["items"])
        if "current" in dump:
            await self.put_kv("x_playlist.current", dump["current"])

    async def snapshot(self) -> None:
        """What webqueue does at start or after a gap: read and record a fresh snapshot."""
        self.resync.request(self.channel, "test")
        await self.resync.idle()

    # ---- what the log now says ---------------------------------------------------------------

    async def state(self) -> QueueState:
        result: QueueState = await self.handler.state(queue_decider, queue_stream(self.channel))
        return result

    async def presence(self) -> PresenceState:
        result: PresenceState = await self.handler.state(
            presence_decider, presence_stream(self.channel)
        )
        return result

    async def view(self) -> QueueView:
        state = await self.state()
        channel_row, rows = rows_for(self.channel, state, 0)
        return build_view(self.channel, channel_row, rows, 0, self.clock.now())

    async def matches(self, label: str) -> None:
        """The shadow holds exactly CyTube's playlist at this checkpoint: uids, order, temp
        flags, and the item playing."""
        real = truth(self.doc, label)
        state = await self.state()
        ours = [{"uid": i.uid, "title": i.media.title, "temp": i.temp} for i in state.items]
        assert ours == real["items"], f"{label}: shadow {ours} != CyTube {real['items']}"
        if real["items"]:
            assert state.now_playing_uid == real["current"], label
            assert state.current is not None, f"{label}: now playing not linked to its item"
        else:
            assert state.now_playing is None, label
