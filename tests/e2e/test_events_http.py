"""The log over HTTP for analysts (`GET /api/v1/events`) and the queue as it was (`?as_of=`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from application.log.ports import Commit, StreamId
from application.log.replay import COLUMNS
from application.log.streams import queue_stream
from domain.queue.decider import queue_decider
from domain.wallet.model import CreditGranted
from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up, queue
from tests.e2e.test_pay_to_play import bearer

EVENTS = "/api/v1/events"
QUEUE = "/api/v1/channels/lobby/queue"


async def log_rows(svc: Running) -> list[dict[str, Any]]:
    """Every event in the log as one row each, read straight from the store."""
    from adapters.log.codec import Codec

    codec = Codec()
    rows = []
    async for stored in svc.services.kernel.log.events.read_all():
        c = stored.commit
        for event in c.events:
            wire = codec.encode_event(event)
            rows.append(
                {
                    "position": stored.position,
                    "commit_id": c.commit_id,
                    "channel": c.stream.channel,
                    "aggregate": c.stream.aggregate,
                    "type": wire.type,
                    "data": json.loads(bytes(wire.data)),
                }
            )
    return rows


def ndjson(text: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        assert tuple(row) == COLUMNS
        assert datetime.fromisoformat(row["at"]).tzinfo is not None
    return rows


def brief(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("position", "commit_id", "channel", "aggregate", "type", "data")
    return [{k: r[k] for k in keys} for r in rows]


async def test_an_admin_reads_the_whole_log_as_ndjson(service: Running) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    head = await service.services.kernel.log.events.head()
    r = await service.http.get(EVENTS, params={"until": str(head)}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    rows = ndjson(r.text)
    assert brief(rows) == [x for x in await log_rows(service) if x["position"] <= head]
    assert int(r.headers["X-Next-After-Position"]) == head
    assert int(r.headers["X-Log-Head"]) >= head
    assert {row["type"] for row in rows} >= {"ItemAdded", "NowPlayingChanged"}


async def big_commit(svc: Running, events: int) -> int:
    """A commit with several events (the demo's have one each), in a stream nothing else reads."""
    commit = Commit(
        f"big-{events}",
        StreamId("archive", "wallet", "zed"),
        1,
        svc.services.kernel.clock.now(),
        "test",
        tuple(CreditGranted(n, "boss", "grant", n) for n in range(1, events + 1)),
    )
    return (await svc.services.kernel.log.events.append(commit, 0)).position


async def pages(
    svc: Running, headers: dict[str, str], limit: int, **params: Any
) -> list[list[dict[str, Any]]]:
    """Every page from the start, each asked with after_position = the last one's
    X-Next-After-Position, until an empty page."""
    got: list[list[dict[str, Any]]] = []
    after = 0
    while True:
        r = await svc.http.get(
            EVENTS, params={**params, "after_position": after, "limit": limit}, headers=headers
        )
        assert r.status_code == 200, r.text
        page = ndjson(r.text)
        nxt = int(r.headers["X-Next-After-Position"])
        assert nxt >= after
        if not page:
            assert nxt == after
            return got
        assert all(row["position"] > after for row in page)
        assert nxt >= page[-1]["position"]
        assert len(page) <= limit or len({row["position"] for row in page}) == 1  # one commit
        got.append(page)
        after = nxt


async def test_pages_by_after_position_cover_the_log_exactly_once(service: Running) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    big = await big_commit(service, 5)
    body = {"media_type": "yt", "media_id": "fakeAfterBig", "title": "After the big one"}
    assert (await service.sim.post("/api/v1/sim/lobby/media", json=body)).status_code == 201
    await caught_up(service)
    head = await service.services.kernel.log.events.head()
    assert head > big
    everything = ndjson(
        (await service.http.get(EVENTS, params={"until": str(head)}, headers=admin)).text
    )
    assert len(everything) > 5

    for limit in (1, 2, 3, 1000):
        got = await pages(service, admin, limit, until=str(head))
        assert [row for page in got for row in page] == everything, limit
        for page in got:  # a commit is never split between pages; only a big one overflows
            positions = [r["position"] for r in page]
            assert positions.count(big) in (0, 5), limit
            assert len(page) <= limit or positions == [big] * 5, limit
        assert len(got) > 1 or limit == 1000

    kinds = "CreditGranted,ItemAdded"
    got = await pages(service, admin, 3, type=kinds, until=str(head))
    assert [row for page in got for row in page] == [
        r for r in everything if r["type"] in kinds.split(",")
    ]
    assert [r["position"] for r in everything].count(big) == 5


async def test_filters_and_bad_arguments(service: Running) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    everything = ndjson((await service.http.get(EVENTS, headers=admin)).text)
    added = await service.http.get(
        EVENTS, params={"type": ["ItemAdded", "NowPlayingChanged"]}, headers=admin
    )
    kinds = ("ItemAdded", "NowPlayingChanged")
    want = [r for r in everything if r["type"] in kinds]
    assert ndjson(added.text) == want and want

    middle = datetime.fromisoformat(want[len(want) // 2]["at"])
    since = await service.http.get(
        EVENTS, params={"since": middle.isoformat(), "type": "ItemAdded,NowPlayingChanged"},
        headers=admin,
    )  # fmt: skip
    assert ndjson(since.text) == [r for r in want if datetime.fromisoformat(r["at"]) >= middle]
    other = await service.http.get(EVENTS, params={"channel": "nowhere"}, headers=admin)
    assert other.status_code == 200 and other.text == ""
    assert other.headers["X-Next-After-Position"] == other.headers["X-Log-Head"]

    for params, key in [
        ({"type": "ItemAddded"}, "type"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-01-01T00:00:00"}, "until"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"after_position": -1}, "after_position"),
        ({"channel": "!!!"}, "channel"),
    ]:
        r = await service.http.get(EVENTS, params=params, headers=admin)
        assert r.status_code == 400, (params, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_request", params
        assert key in json.dumps(error), (params, error)
    unknown = await service.http.get(EVENTS, params={"type": "Nope"}, headers=admin)
    assert "PlaylistCreated" in unknown.json()["error"]["message"]


async def test_only_an_admin_may_read_the_log(service: Running) -> None:
    await caught_up(service)
    viewer = await service.http.get(EVENTS, headers=bearer(service, "vic", "viewer"))
    assert viewer.status_code == 403
    assert viewer.json()["error"]["code"] == "insufficient_role"
    blessed = await service.http.get(EVENTS, headers=bearer(service, "bea", "blessed"))
    assert blessed.status_code == 403
    nobody = await service.http.get(EVENTS)
    assert nobody.status_code == 401


def _without_clock(view: dict[str, Any]) -> dict[str, Any]:
    """A view less what depends on the moment it was computed at."""
    items = [{k: v for k, v in i.items() if k != "eta_sec"} for i in view["items"]]
    playing = view["now_playing"]
    return {
        "channel_position": view["channel_position"],
        "now_playing": playing and (playing["item"] or {}).get("item_id"),
        "started_at": playing and playing["started_at"],
        "items": items,
        "lock": view["lock"],
    }


async def test_the_queue_as_of_an_early_position_is_the_fold_of_the_log_up_to_it(
    service: Running,
) -> None:
    await caught_up(service)
    commits = await service.services.kernel.log.events.read_stream(queue_stream("lobby"))
    early = commits[min(3, len(commits) - 1)]  # a few demo items in: a shorter playlist
    body = {"media_type": "yt", "media_id": "fakeLater", "title": "Added later"}
    assert (await service.sim.post("/api/v1/sim/lobby/media", json=body)).status_code == 201
    await caught_up(service)
    now = await queue(service)

    r = await service.http.get(QUEUE, params={"as_of": str(early.position)})
    assert r.status_code == 200, r.text
    then = r.json()
    assert _without_clock(then) != _without_clock(now)
    assert "Added later" in [i["title"] for i in now["items"]]
    assert "Added later" not in [i["title"] for i in then["items"]]

    by_hand = queue_decider.fold(
        "lobby", [e for c in commits if c.position <= early.position for e in c.commit.events]
    )
    shown = ([then["now_playing"]["item"]] if then["now_playing"]["item"] else []) + then["items"]
    shown.sort(key=lambda i: i["playlist_index"])
    assert [i["item_id"] for i in shown] == [i.item_id for i in by_hand.items]
    assert [i["title"] for i in shown] == [i.media.title for i in by_hand.items]
    assert then["now_playing"]["uid"] == by_hand.now_playing_uid
    assert (then["now_playing"]["item"] or {}).get("item_id") == by_hand.now_playing
    assert then["position"] == then["channel_position"] == early.position
    assert datetime.fromisoformat(then["generated_at"]) == early.commit.at

    # The same moment asked by time gives the same queue.
    at_time = await service.http.get(QUEUE, params={"as_of": early.commit.at.isoformat()})
    assert _without_clock(at_time.json()) == _without_clock(then)


async def test_the_queue_as_of_now_is_the_live_queue(service: Running) -> None:
    await caught_up(service)
    for _ in range(20):  # a commit landing between the two reads makes them differ rightly
        live = await queue(service)
        moment = service.services.kernel.clock.now()
        r = await service.http.get(QUEUE, params={"as_of": moment.isoformat()})
        assert r.status_code == 200, r.text
        then = r.json()
        if (await queue(service))["channel_position"] == live["channel_position"]:
            break
    assert _without_clock(then) == _without_clock(live)
    assert datetime.fromisoformat(then["generated_at"]) == moment
    assert then["position"] == live["channel_position"]

    # ETAs are computed at the moment asked about.
    later = moment + timedelta(seconds=30)
    ahead = (await service.http.get(QUEUE, params={"as_of": later.isoformat()})).json()
    remaining = then["now_playing"]["remaining_sec"]
    if remaining is not None and remaining > 30:
        assert abs(ahead["now_playing"]["remaining_sec"] - (remaining - 30)) < 1e-3
        assert datetime.fromisoformat(ahead["generated_at"]) == later


async def test_a_bad_as_of_is_a_400(service: Running) -> None:
    await caught_up(service)
    head = await service.services.kernel.log.events.head()
    for as_of in ["yesterday", "0", str(head + 1000), "2026-01-01T00:00:00", "-3"]:
        r = await service.http.get(QUEUE, params={"as_of": as_of})
        assert r.status_code == 400, (as_of, r.text)
        assert r.json()["error"]["code"] == "invalid_request"
        assert "as_of" in json.dumps(r.json()["error"])
    absent = await service.http.get(QUEUE)
    assert absent.status_code == 200


async def test_the_schema_documents_events_and_as_of(service: Running) -> None:
    paths = (await service.http.get("/schema/openapi.json")).json()["paths"]
    events = paths[EVENTS]["get"]
    assert {p["name"] for p in events["parameters"]} == {
        "channel",
        "since",
        "until",
        "type",
        "after_position",
        "limit",
    }
    assert set(events["responses"]["200"]["headers"]) == {"X-Next-After-Position", "X-Log-Head"}
    queue_params = paths["/api/v1/channels/{channel}/queue"]["get"]["parameters"]
    assert "as_of" in {p["name"] for p in queue_params}
