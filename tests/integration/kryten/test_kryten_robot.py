"""KrytenRobot against a fake robot on a real nats-server.

The fake robot is a plain nats-py subscription answering the way Kryten-Robot 1.12 does:
`{service: "robot", command, success: true, data: RESULT}` once a handler ran,
`{service: "robot", command, success: false, error}` when the handler raised, and no reply at
all for a command it does not know. Each test listens on a subject of its own (the server is
shared by the session).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from adapters.kryten.robot import KrytenRobot, is_transient_queue_fail
from adapters.log.subjects import token
from application.cytube.port import AddOutcome, CytubeUnavailable
from domain.media import Media
from domain.presence.model import ObservedUser
from domain.queue.commands import ObservedItem
from tests.integration.kryten.recorded import load

DOMAIN = "cytu.be"
CH = "Movie Night"
A = Media("yt", "fakeAAA", "Clip A", 180)

Answer = Callable[[dict[str, Any]], "dict[str, Any] | bytes | None"]


class FakeRobot:
    """Records every request; `answer(request)` gives the reply (None: stay silent)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: Answer = lambda request: None

    async def handle(self, msg: Msg) -> None:
        request = json.loads(msg.data)
        self.requests.append(request)
        reply = self.answer(request)
        if reply is None:
            return
        await msg.respond(reply if isinstance(reply, bytes) else json.dumps(reply).encode())

    def ran(self, data: Any) -> None:
        """Answer every command as a handler that returned `data`."""
        self.answer = lambda request: ok(request["command"], data)

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]


def ok(command: str, data: Any) -> dict[str, Any]:
    return {"service": "robot", "command": command, "success": True, "data": data}


def raised(command: str, error: str) -> dict[str, Any]:
    return {"service": "robot", "command": command, "success": False, "error": error}


def item(uid: int, media_id: str, *, temp: bool = False, seconds: Any = 180) -> dict[str, Any]:
    """A CyTube playlist item as PlaylistItem.pack() sends it (with fields we ignore)."""
    return {
        "media": {
            "id": media_id,
            "title": f"Clip {media_id}",
            "seconds": seconds,
            "duration": "03:00",
            "type": "yt",
            "meta": {},
        },
        "uid": uid,
        "temp": temp,
        "queueby": "KrytenBot",
    }


def cytube_user(name: str, rank: float = 1, afk: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "rank": rank,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": afk, "muted": False, "smuted": False, "aliases": []},
    }


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
def subject() -> str:
    return f"test.robot.{uuid.uuid4().hex}.command"


@pytest.fixture
async def robot(nc: Client, subject: str) -> AsyncIterator[FakeRobot]:
    fake = FakeRobot()
    sub = await nc.subscribe(subject, cb=fake.handle)
    await nc.flush()
    yield fake
    await sub.unsubscribe()


@pytest.fixture
def port(nc: Client, subject: str, robot: FakeRobot) -> KrytenRobot:
    return KrytenRobot(
        nc, domain=DOMAIN, timeout=2.0, subject=subject, source="webqueue-test", late_fail_sec=0.3
    )


# ---- the request -----------------------------------------------------------------------------


async def test_the_request_envelope(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran({"success": True, "uid": 7})
    await port.add(CH, A, "next", temp=True)
    await port.add(CH, A, "end", temp=False)

    first, second = robot.requests
    assert first["service"] == "robot"
    assert first["command"] == "addvideo"
    assert first["args"] == {"type": "yt", "id": "fakeAAA", "pos": "next", "temp": True}
    meta = first["meta"]
    assert meta["source"] == "webqueue-test"
    assert meta["domain"] == DOMAIN
    assert meta["channel"] == CH  # as named: the robot compares it case-insensitively
    assert datetime.fromisoformat(meta["timestamp"]).tzinfo is not None
    uuid.UUID(meta["request_id"])
    assert second["args"]["temp"] is False and second["args"]["pos"] == "end"
    assert second["meta"]["request_id"] != meta["request_id"]  # fresh per call


async def test_each_command_sends_its_args(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran({"success": True})
    await port.delete(CH, 12)
    assert (robot.last["command"], robot.last["args"]) == ("rmvideo", {"uid": 12})
    await port.move(CH, 12, 9)
    assert (robot.last["command"], robot.last["args"]) == ("mvvideo", {"from": 12, "after": 9})
    await port.move(CH, 12, "prepend")
    assert robot.last["args"] == {"from": 12, "after": "prepend"}
    await port.pm(CH, "Alice", "Your item plays next.")
    assert (robot.last["command"], robot.last["args"]) == (
        "pm",
        {"to": "Alice", "msg": "Your item plays next."},
    )

    robot.ran({"playlist": [item(1, "x")]})
    await port.playlist(CH)
    assert (robot.last["command"], robot.last["args"]) == ("state.playlist", {})

    robot.ran({"user": None, "profile": None})
    await port.user(CH, "Alice")
    assert robot.last["command"] == "state.user"
    # The robot's state handler reads `username` at the top level; args carry it too.
    assert robot.last["username"] == "Alice"
    assert robot.last["args"] == {"username": "Alice"}
    assert robot.last["meta"]["channel"] == CH


# ---- addvideo --------------------------------------------------------------------------------


async def test_add_ok_with_uid(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran({"success": True, "uid": 41})
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(ok=True, uid=41)


async def test_add_ok_with_uid_zero(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran({"success": True, "uid": 0})
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(ok=True, uid=0)


async def test_add_without_uid_is_ok_with_uid_none(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran({"success": True, "uid": None})  # CyTube did not confirm within the robot's 8 s
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(ok=True, uid=None)


def event(payload: Any) -> bytes:
    """An event as the robot publishes it (its RawEvent envelope)."""
    return json.dumps({"event_name": "x", "payload": payload, "channel": CH}).encode()


async def late_port(nc: Client, subject: str, answer_then: Any) -> tuple[KrytenRobot, str]:
    """A port whose robot answers an add with uid null and then publishes `answer_then`
    (event, payload) on the channel's events, as the real one does when CyTube's reply comes
    after its 8 s wait."""
    prefix = f"test.ev.{uuid.uuid4().hex}"

    async def handle(msg: Msg) -> None:
        await msg.respond(json.dumps(ok("addvideo", {"success": True, "uid": None})).encode())
        for name, payload in answer_then:
            await nc.publish(f"{prefix}.{token(CH)}.{name}", event(payload))

    await nc.subscribe(subject, cb=handle)
    await nc.flush()
    port = KrytenRobot(
        nc, domain=DOMAIN, timeout=2.0, subject=subject, events_prefix=prefix, late_fail_sec=1.0
    )
    return port, prefix


async def test_a_queue_fail_after_the_robots_wait_is_a_failure_with_cytubes_reason(
    nc: Client, subject: str
) -> None:
    other = {"msg": "Video not found", "link": "https://youtu.be/other", "id": "other"}
    mine = {"msg": "Expected HTTP 200 OK, not 404 Not Found", "link": "x", "id": A.id}
    port, _ = await late_port(nc, subject, [("queuefail", other), ("queuefail", mine)])
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(
        ok=False, error="Expected HTTP 200 OK, not 404 Not Found", transient=False
    )


async def test_a_transient_queue_fail_after_the_wait_is_retried(nc: Client, subject: str) -> None:
    late = {"msg": "Request timed out", "link": "x", "id": A.id}
    port, _ = await late_port(nc, subject, [("queuefail", late)])
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(
        ok=False, error="Request timed out", transient=True
    )


async def test_the_items_queue_event_after_the_wait_is_ok_with_its_uid(
    nc: Client, subject: str
) -> None:
    queued = {"item": item(41, A.id), "after": 40}
    port, _ = await late_port(
        nc, subject, [("queue", {"item": item(7, "zzz"), "after": 6}), ("queue", queued)]
    )
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(ok=True, uid=41)


async def test_the_recorded_slow_lookup_fails_with_cytubes_reason(nc: Client, subject: str) -> None:
    """As recorded (2b_add_hazards): a manifest slower than the robot's 8 s; the robot answers
    uid null, and CyTube's `queueFail` "Request timed out" comes 2 s later as an event only."""
    doc = load("2b_add_hazards")
    fail = next(s for s in doc["steps"] if str(s.get("subject", "")).endswith(".queuefail"))
    add = next(
        s
        for s in doc["steps"]
        if s.get("command") == "addvideo"
        and s["request"]["args"]["id"] == fail["body"]["payload"]["id"]
    )
    assert add["reply"]["data"] == {"success": True, "uid": None}
    prefix = f"test.ev.{uuid.uuid4().hex}"

    async def handle(msg: Msg) -> None:
        await msg.respond(json.dumps(add["reply"]).encode())
        await nc.publish(f"{prefix}.{token(CH)}.queuefail", json.dumps(fail["body"]).encode())

    await nc.subscribe(subject, cb=handle)
    port = KrytenRobot(nc, domain=DOMAIN, timeout=2.0, subject=subject, events_prefix=prefix)
    args = add["request"]["args"]
    outcome = await port.add(CH, Media(args["type"], args["id"], "Slow", 12), "end", temp=True)
    assert outcome == AddOutcome(ok=False, error="Request timed out", transient=True)


def queue_fail(msg: str) -> dict[str, Any]:
    return {
        "success": False,
        "error": msg,
        "queue_fail": {"msg": msg, "link": "https://youtu.be/fakeAAA", "id": "fakeAAA"},
    }


async def test_add_queue_fail_permanent(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran(queue_fail("This item is already on the playlist"))
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(
        ok=False, error="This item is already on the playlist", transient=False
    )


@pytest.mark.parametrize(
    "msg",
    [
        "You are adding videos too quickly",
        "Request timed out",
        "Expected HTTP 200 OK, not 503 Service Unavailable",
        "Expected HTTP 200 OK, not 429 Too Many Requests",
        "read ECONNRESET",
        "socket hang up",
        "The remote server unexpectedly closed the connection.",
    ],
)
async def test_add_queue_fail_transient(port: KrytenRobot, robot: FakeRobot, msg: str) -> None:
    robot.ran(queue_fail(msg))
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(
        ok=False, error=msg, transient=True
    )


async def test_add_queue_fail_message_is_unescaped(port: KrytenRobot, robot: FakeRobot) -> None:
    # CyTube passes lookup errors through XSS.sanitizeText.
    robot.ran(queue_fail("You don&#39;t have permission to add live media"))
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(
        ok=False, error="You don't have permission to add live media", transient=False
    )


async def test_add_failed_in_the_robot_without_queue_fail(
    port: KrytenRobot, robot: FakeRobot
) -> None:
    robot.ran({"success": False, "error": "Failed to add video"})  # its socket emit failed
    assert await port.add(CH, A, "end", temp=True) == AddOutcome(
        ok=False, error="Failed to add video", transient=False
    )


@pytest.mark.parametrize(
    ("msg", "transient"),
    [
        ("This item is already on the playlist", False),
        ("Video exceeds the maximum length set by the channel admin: 600 seconds", False),
        ("Channel limit exceeded: maximum number of videos per user", False),
        ("Expected HTTP 200 OK, not 404 Not Found", False),
        ("Video not found", False),
        ("Playlist limit reached (4000)", False),
        ("You are adding videos too quickly", True),
        ("Service unavailable", True),
        ("getaddrinfo EAI_AGAIN media.example.org", True),
        ("connect ECONNREFUSED 10.0.0.1:443", True),
        ("Expected HTTP 200 OK, not 502 Bad Gateway", True),
    ],
)
def test_transient_classification(msg: str, transient: bool) -> None:
    assert is_transient_queue_fail(msg) is transient


# ---- failures of the robot or the wire -------------------------------------------------------


async def test_outer_success_false_is_unavailable(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.answer = lambda request: raised(request["command"], "CytubeEventSender not available")
    with pytest.raises(CytubeUnavailable, match="CytubeEventSender not available"):
        await port.add(CH, A, "end", temp=True)
    with pytest.raises(CytubeUnavailable):
        await port.delete(CH, 3)
    with pytest.raises(CytubeUnavailable):
        await port.playlist(CH)
    with pytest.raises(CytubeUnavailable):
        await port.user(CH, "Alice")
    with pytest.raises(CytubeUnavailable):
        await port.pm(CH, "Alice", "hi")


async def test_inner_success_false_on_rmvideo_and_mvvideo(
    port: KrytenRobot, robot: FakeRobot
) -> None:
    robot.ran({"success": False, "error": "Failed to delete video"})
    with pytest.raises(CytubeUnavailable, match="Failed to delete video"):
        await port.delete(CH, 3)
    robot.ran({"success": False, "error": "Failed to move video"})
    with pytest.raises(CytubeUnavailable, match="Failed to move video"):
        await port.move(CH, 3, "append")
    robot.ran({"success": False})
    with pytest.raises(CytubeUnavailable):
        await port.pm(CH, "Alice", "hi")
    robot.ran({"error": "Not implemented in handler yet"})  # an error without success
    with pytest.raises(CytubeUnavailable, match="Not implemented"):
        await port.delete(CH, 3)


async def test_inner_success_false_on_reads_is_unavailable_not_empty_or_absent(
    port: KrytenRobot, robot: FakeRobot
) -> None:
    robot.ran({"success": False, "error": "KV read failed"})
    with pytest.raises(CytubeUnavailable, match="KV read failed"):
        await port.playlist(CH)
    with pytest.raises(CytubeUnavailable, match="KV read failed"):
        await port.user(CH, "Alice")


async def test_no_reply_times_out_as_unavailable(
    nc: Client, subject: str, robot: FakeRobot
) -> None:
    port = KrytenRobot(nc, domain=DOMAIN, timeout=0.3, subject=subject)
    robot.answer = lambda request: None  # an unknown command, or a robot for another channel
    with pytest.raises(CytubeUnavailable):
        await port.add(CH, A, "end", temp=True)
    with pytest.raises(CytubeUnavailable):
        await port.playlist(CH)
    assert len(robot.requests) == 2


async def test_no_responders_is_unavailable(nc: Client) -> None:
    port = KrytenRobot(nc, domain=DOMAIN, timeout=2.0, subject=f"test.robot.{uuid.uuid4().hex}")
    with pytest.raises(CytubeUnavailable):
        await port.move(CH, 1, "append")


@pytest.mark.parametrize(
    "reply",
    [
        b"not json",
        b"[]",
        b"{}",
        json.dumps({"service": "robot", "success": "yes"}).encode(),
        json.dumps(ok("addvideo", None)).encode(),
        json.dumps(ok("addvideo", {"success": True, "uid": "41"})).encode(),
        json.dumps(ok("addvideo", {"success": True, "uid": -1})).encode(),
        json.dumps(ok("state.playlist", {"success": True, "uid": 4})).encode(),  # wrong command
    ],
)
async def test_garbage_reply_is_unavailable(
    port: KrytenRobot, robot: FakeRobot, reply: bytes
) -> None:
    robot.answer = lambda request: reply
    with pytest.raises(CytubeUnavailable):
        await port.add(CH, A, "end", temp=True)


async def test_garbage_results_of_reads_are_unavailable(
    port: KrytenRobot, robot: FakeRobot
) -> None:
    robot.ran({"playlist": [{"uid": 1, "temp": False}]})
    with pytest.raises(CytubeUnavailable):
        await port.playlist(CH)
    robot.ran({"playlist": [item(1, " ")]})
    with pytest.raises(CytubeUnavailable):
        await port.playlist(CH)
    robot.ran({"user": {"rank": 1}})
    with pytest.raises(CytubeUnavailable):
        await port.user(CH, "Alice")
    robot.ran({"user": cytube_user("Mallory")})
    with pytest.raises(CytubeUnavailable):
        await port.user(CH, "Alice")


# ---- state.playlist --------------------------------------------------------------------------


async def test_playlist_items_are_parsed(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran(
        {
            "playlist": [
                item(4, "aaa"),
                item(7, "bbb", temp=True, seconds=None),  # CyTube's NaN arrives as null
                item(9, "ccc", seconds=61.5),
            ]
        }
    )
    assert await port.playlist(CH) == (
        ObservedItem(4, Media("yt", "aaa", "Clip aaa", 180), False, "KrytenBot"),
        ObservedItem(7, Media("yt", "bbb", "Clip bbb", 0), True, "KrytenBot"),
        ObservedItem(9, Media("yt", "ccc", "Clip ccc", 62), False, "KrytenBot"),
    )


@pytest.mark.parametrize("data", [{"playlist": []}, [], {"playlist": None}])
async def test_an_empty_playlist_nothing_vouches_for_is_unknown(
    port: KrytenRobot, robot: FakeRobot, data: Any
) -> None:
    robot.ran(data)  # what older robots answer when their KV read fails, too; no KV bucket here
    assert await port.playlist(CH) is None
    read = await port.read(CH)
    assert read.items == () and not read.empty_confirmed


# ---- state.user ------------------------------------------------------------------------------


async def test_user_present(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran({"user": cytube_user("Alice", rank=2), "profile": {"image": "", "text": ""}})
    assert await port.user(CH, "Alice") == ObservedUser("Alice", 2, afk=False)


async def test_user_afk(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran({"user": cytube_user("Alice", rank=1.5, afk=True), "profile": None})
    assert await port.user(CH, "Alice") == ObservedUser("Alice", 1.5, afk=True)


@pytest.mark.parametrize("data", [{"user": None, "profile": None}, {"profile": None}, {}])
async def test_user_absent(port: KrytenRobot, robot: FakeRobot, data: dict[str, Any]) -> None:
    robot.ran(data)
    assert await port.user(CH, "Alice") is None


# ---- pm --------------------------------------------------------------------------------------


async def test_pm(port: KrytenRobot, robot: FakeRobot) -> None:
    robot.ran({"success": True})
    await port.pm(CH, "Alice", "Refunded 500 Z: your item could not be added.")
    assert robot.last["command"] == "pm"
    assert robot.last["args"] == {
        "to": "Alice",
        "msg": "Refunded 500 Z: your item could not be added.",
    }
