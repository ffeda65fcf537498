"""A CyTube channel behind Kryten-Robot 1.12.6 and a kryten-economy 0.16.1, on the wire.

Built from the recordings of the real peers (tests/fixtures/kryten/): the same subjects, the
same envelopes and payloads, in the same order (a `queue` event before the addvideo reply, a
`setPlaylistMeta` after every add, delete and clear, none after a move; a clear is
`playlist []` then the count of 0; every new item starts at -3 s, paused), and the robot's own
faults: it never applies `setTemp`, keeps a deleted or moved uid 0, answers `state.user` with the
bare `{name, rank}` after a `setUserRank`, runs one command at a time, publishes no heartbeat,
and answers `state.playlist` from its memory, which it also puts in its KV bucket.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig

from tests.nats_cluster import until_stream_stands

ROBOT_VERSION = "1.12.6"


def packed(uid: int, media_id: str, seconds: int, *, temp: bool, queueby: str) -> dict[str, Any]:
    return {
        "media": {
            "id": media_id,
            "title": f"Title {media_id}",
            "seconds": seconds,
            "duration": f"{seconds // 60:02d}:{seconds % 60:02d}",
            "type": "cm",
            "meta": {},
        },
        "uid": uid,
        "temp": temp,
        "queueby": queueby,
    }


class WireRobot:
    """The channel and its robot. Subjects are the test's own; names as the real robot's."""

    def __init__(
        self,
        nc: Client,
        *,
        channel: str,
        domain: str,
        events_prefix: str,
        command_subject: str,
        lifecycle: str,
        replicas: int = 1,
    ) -> None:
        self.nc = nc
        self.replicas = replicas  # of its KV bucket: 3 on a cluster, as a robot there keeps
        self.channel = channel
        self.domain = domain
        self.events_prefix = events_prefix
        self.command_subject = command_subject
        self.lifecycle = lifecycle
        self.items: list[dict[str, Any]] = []  # what CyTube holds
        self.memory: list[dict[str, Any]] = []  # what the robot holds
        self.current: int | None = None
        self.next_uid = 0
        self.users: dict[str, dict[str, Any]] = {}
        self.answering = False
        self.commands: list[dict[str, Any]] = []
        self.pms: list[tuple[str, str]] = []
        # media id -> the queueFail CyTube sends after the robot's 8 s wait (a slow lookup, as
        # 2b_add_hazards recorded): the add is answered uid null, the reason comes as an event.
        self.slow_failures: dict[str, str] = {}
        self._later: list[asyncio.TimerHandle] = []
        self._lock = asyncio.Lock()  # the robot handles commands one at a time
        self._sub: Any = None
        self._kv: Any = None

    # ---- the robot's life --------------------------------------------------------------------

    async def start(self, *, burst: bool = True) -> None:
        if self._kv is None:
            js = self.nc.jetstream()
            self._kv = await js.create_key_value(
                KeyValueConfig(
                    bucket=f"kryten_{self.channel}_playlist", history=1, replicas=self.replicas
                )
            )
            # Three copies on a cluster: its first put waits for a leader (a fresh-clone CI
            # run's first put got "no responders").
            await until_stream_stands(js, f"KV_kryten_{self.channel}_playlist")
        await self._lifecycle("startup", {"uptime_seconds": 0.0001})
        await self._lifecycle("connected", {"target": "NATS", "servers": []})
        self.memory = [dict(i) for i in self.items]
        await self._remember()
        await self._remember_current()
        if self._sub is None:
            self._sub = await self.nc.subscribe(self.command_subject, cb=self._received)
        self.answering = True
        await self._lifecycle(
            "connected", {"target": "CyTube", "domain": self.domain, "channel": self.channel}
        )
        await self._lifecycle(
            "startup",
            {"domain": self.domain, "channel": self.channel, "commands_enabled": True},
        )
        if burst:
            await self.join_burst()

    async def stop(self, *, announce: bool = True) -> None:
        """SIGTERM, a kick or CyTube going away (announced), or SIGKILL (not)."""
        self.answering = False
        if announce:
            await self._lifecycle(
                "disconnected", {"target": "CyTube", "reason": "Graceful shutdown"}
            )
            await self._lifecycle("shutdown", {"reason": "Normal shutdown"})

    async def close(self) -> None:
        self.answering = False
        for later in self._later:
            later.cancel()
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._kv is not None:
            await self.nc.jetstream().delete_key_value(f"kryten_{self.channel}_playlist")

    async def join_burst(self) -> None:
        await self._meta()
        await self.emit("playlist", self.items)
        if self.current is not None:
            await self.emit("setCurrent", self.current)
            await self.emit("changeMedia", self._change_media(self._position))
        await self.emit("userlist", list(self.users.values()))

    _position = 5.0  # how far into the current item a join finds it

    # ---- the wire ----------------------------------------------------------------------------

    async def emit(self, event: str, payload: Any) -> None:
        body = {
            "event_name": event,
            "payload": payload,
            "channel": self.channel,
            "domain": self.domain,
            "timestamp": datetime.now(UTC).isoformat(),
            "correlation_id": str(uuid.uuid4()),
        }
        subject = f"{self.events_prefix}.{self.channel}.{event.lower()}"
        await self.nc.publish(subject, json.dumps(body).encode())
        await self.nc.flush()

    async def _lifecycle(self, event: str, extra: dict[str, Any]) -> None:
        body = {
            "service": "robot",
            "version": ROBOT_VERSION,
            "hostname": "test",
            "timestamp": datetime.now(UTC).isoformat(),
            **extra,
        }
        await self.nc.publish(f"{self.lifecycle}.{event}", json.dumps(body).encode())
        await self.nc.flush()

    async def _remember(self) -> None:
        if self._kv is not None:  # the robot keeps what it saw while it runs
            await self._kv.put("items", json.dumps(self.memory).encode())

    async def _remember_current(self) -> None:
        item = self._item(self.current)
        if self._kv is not None and item is not None:
            current = {**item["media"], "uid": self.current}
            await self._kv.put("current", json.dumps(current).encode())

    async def _meta(self) -> None:
        raw = sum(i["media"]["seconds"] for i in self.items)
        await self.emit("setPlaylistMeta", {"count": len(self.items), "rawTime": raw, "time": ""})

    def _change_media(self, position: float) -> dict[str, Any]:
        item = self._item(self.current)
        assert item is not None
        return {**item["media"], "currentTime": position, "paused": position < 0}

    def _item(self, uid: int | None) -> dict[str, Any] | None:
        return next((i for i in self.items if i["uid"] == uid), None)

    # ---- what CyTube does --------------------------------------------------------------------

    async def start_playback(self, uid: int) -> None:
        self.current = uid
        await self._remember_current()
        await self.emit("setCurrent", uid)
        await self.emit("changeMedia", self._change_media(-3))

    async def add(
        self,
        media_id: str,
        seconds: int,
        *,
        temp: bool = False,
        by: str = "owner1",
        pos: str = "end",
    ) -> int:
        uid = self.next_uid
        self.next_uid += 1
        item = packed(uid, media_id, seconds, temp=temp, queueby=by)
        if pos == "next" and self.current is not None:
            at = next(n for n, i in enumerate(self.items) if i["uid"] == self.current) + 1
        else:
            at = len(self.items)
        after: Any = self.items[at - 1]["uid"] if at else "prepend"
        was_empty = not self.items
        self.items.insert(at, item)
        self.memory.insert(min(at, len(self.memory)), dict(item))
        await self._remember()
        await self.emit("queue", {"item": item, "after": after})
        await self._meta()
        if was_empty:
            await self.start_playback(uid)
        return uid

    async def delete(self, uid: int) -> None:
        item = self._item(uid)
        if item is None:
            return  # CyTube ignores it silently
        index = self.items.index(item)
        self.items.remove(item)
        if uid:  # Kryten-Robot 1.12.6: `if uid:` skips uid 0
            self.memory = [i for i in self.memory if i["uid"] != uid]
            await self._remember()
        await self.emit("delete", {"uid": uid})
        await self._meta()
        if uid == self.current:
            if self.items:
                await self.start_playback(self.items[index % len(self.items)]["uid"])
            else:
                self.current = None

    async def move(self, uid: int, after: Any) -> None:
        item = self._item(uid)
        if item is None or uid == after:
            return  # a failed move is silent
        if after not in ("prepend", "append") and self._item(after) is None:
            return
        self.items.remove(item)
        if after == "prepend":
            self.items.insert(0, item)
        elif after == "append":
            self.items.append(item)
        else:
            anchor = next(n for n, i in enumerate(self.items) if i["uid"] == after)
            self.items.insert(anchor + 1, item)
        if uid:  # `if from_uid and ...`: uid 0 is never moved in the robot's copy
            self.memory = [dict(i) for i in self.items]
            await self._remember()
        await self.emit("moveVideo", {"from": uid, "after": after})

    async def clear(self) -> None:
        """A moderator's clearPlaylist (or the robot's `clear`): handleClear."""
        self.items.clear()
        self.current = None
        self.memory = []
        await self._remember()
        await self.emit("playlist", [])
        await self.emit("setPlaylistMeta", {"count": 0, "rawTime": 0, "time": "00:00"})

    async def play_next(self) -> None:
        """`_playNext`: a temp current item is deleted (which starts the next)."""
        item = self._item(self.current)
        if item is None:
            return
        if item["temp"]:
            await self.delete(item["uid"])
            return
        index = self.items.index(item)
        await self.start_playback(self.items[(index + 1) % len(self.items)]["uid"])

    async def join(self, name: str, *, registered: bool = True, rank: float = 1) -> None:
        user = {
            "name": name,
            "rank": rank if registered else 0,
            "profile": {"image": "", "text": ""},
            "meta": {"afk": False, "muted": False},
        }
        self.users[name] = user
        await self.emit("addUser", user)
        if registered:
            self.users[name] = {"name": name, "rank": rank}  # what the robot keeps now
            await self.emit("setUserRank", {"name": name, "rank": rank})

    async def leave(self, name: str) -> None:
        self.users.pop(name, None)
        await self.emit("userLeave", {"name": name})

    async def set_afk(self, name: str, afk: bool) -> None:
        user = self.users.get(name)
        if user is not None:
            user["meta"] = {**user.get("meta", {}), "afk": afk}
        await self.emit("setAFK", {"name": name, "afk": afk})

    # ---- kryten.robot.command ----------------------------------------------------------------

    async def _received(self, msg: Msg) -> None:
        request = json.loads(msg.data)
        self.commands.append(request)
        if not self.answering:
            return
        command, args = request.get("command"), request.get("args") or {}
        if command in ("state.playlist", "state.user", "system.ping"):
            data = self._state(command, request)  # the state handler: not serialised
        else:
            async with self._lock:
                data = await self._command(command, args)
        if data is None:
            return
        body = {"service": "robot", "command": command, "success": True, "data": data}
        await msg.respond(json.dumps(body).encode())

    def _state(self, command: str, request: dict[str, Any]) -> Any:
        if command == "state.playlist":
            return {"playlist": self.memory}
        if command == "system.ping":
            return {"pong": True, "service": "robot", "version": ROBOT_VERSION}
        user = self.users.get(request.get("username") or "")
        return {"user": user, "profile": {} if user else None}

    async def _command(self, command: str | None, args: dict[str, Any]) -> Any:
        if command == "addvideo":
            if args["id"] in self.slow_failures:
                fail = {"msg": self.slow_failures[args["id"]], "link": args["id"], "id": args["id"]}
                later = asyncio.get_running_loop().call_later(
                    0.2, lambda: asyncio.ensure_future(self.emit("queueFail", fail))
                )
                self._later.append(later)
                return {"success": True, "uid": None}
            if any(i["media"]["id"] == args["id"] for i in self.items):
                fail = {"msg": "This item is already on the playlist", "link": args["id"]}
                await self.emit("queueFail", {**fail, "id": args["id"]})
                return {"success": False, "error": fail["msg"], "queue_fail": fail}
            seconds = int(args["id"].rsplit("-", 1)[-1]) if "-" in args["id"] else 120
            temp = args.get("temp", True)  # the robot's default
            uid = await self.add(args["id"], seconds, temp=temp, by="kryten", pos=args["pos"])
            return {"success": True, "uid": uid}
        if command == "rmvideo":
            await self.delete(int(args["uid"]))
            return {"success": True}
        if command == "mvvideo":
            after = args["after"]
            await self.move(int(args["from"]), int(after) if str(after).isdigit() else after)
            return {"success": True}
        if command == "pm":
            self.pms.append((args["to"], args["msg"]))
            if args["to"] not in self.users:
                await self.emit("errorMsg", {"msg": f"PM failed: {args['to']} isn't connected."})
            return {"success": True}
        if command == "clear":
            await self.clear()
            return {"success": True}
        return None  # unknown: no reply


class WireEconomy:
    """kryten-economy 0.16.1's replies (flat requests, two-layer replies), over a ledger."""

    def __init__(self, nc: Client, *, subject: str, lifecycle: str) -> None:
        self.nc = nc
        self.subject = subject
        self.lifecycle = lifecycle
        self.balances: dict[str, int] = {}
        self.spent: dict[str, tuple[str, int]] = {}
        self.refunded: dict[str, int] = {}
        self.answering = True
        self._sub: Any = None

    async def start(self) -> None:
        self.answering = True
        if self._sub is None:
            self._sub = await self.nc.subscribe(self.subject, cb=self._received)
        body = {"service": "economy", "version": "0.16.1", "hostname": "test"}
        await self.nc.publish(f"{self.lifecycle}.startup", json.dumps(body).encode())

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    @staticmethod
    def cost(duration: int) -> int:
        for limit, price in ((15 * 60, 2500), (35 * 60, 5000), (65 * 60, 7500)):
            if duration <= limit:
                return price
        return 10000

    async def _received(self, msg: Msg) -> None:
        if not self.answering:
            return
        request = json.loads(msg.data)
        command = request["command"]
        user = request.get("username", "")
        data: Any
        if command == "system.ping":
            data = {"pong": True, "version": "0.16.1"}
        elif command == "balance.get":
            data = (
                {"found": True, "username": user, "balance": self.balances[user]}
                if user in self.balances
                else {"found": False}
            )
        elif command == "spending.queue_preview":
            cost = self.cost(request["duration_sec"])
            ok = self.balances.get(user, 0) >= cost
            data = {
                "available": ok,
                "cost_z": cost,
                "error_code": None if ok else "insufficient_balance",
            }
        elif command == "spending.queue":
            rid = request["request_id"]
            cost = self.cost(request["duration_sec"])
            if rid in self.spent:
                data = {"success": True, "cost_z": self.spent[rid][1], "idempotent_replay": True}
            elif self.balances.get(user, 0) < cost:
                data = {"success": False, "cost_z": cost, "error_code": "insufficient_balance"}
            else:
                self.balances[user] -= cost
                self.spent[rid] = (user, cost)
                data = {"success": True, "cost_z": cost, "new_balance": self.balances[user]}
        elif command == "spending.queue_refund":
            rid = request["request_id"]
            if rid not in self.spent:
                data = {"success": False, "error": "unknown_request_id"}
            elif rid in self.refunded:
                data = {"success": True, "refunded": self.refunded[rid], "idempotent_replay": True}
            else:
                spender, cost = self.spent[rid]
                self.balances[spender] += cost
                self.refunded[rid] = cost
                data = {"success": True, "refunded": cost, "new_balance": self.balances[spender]}
        else:
            body = {"service": "economy", "success": False, "error": f"Unknown command: {command}"}
            await msg.respond(json.dumps(body).encode())
            return
        body = {"service": "economy", "command": command, "success": True, "data": data}
        await msg.respond(json.dumps(body).encode())
