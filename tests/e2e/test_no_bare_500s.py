"""59 bare 500s were found, none of them logged: odd channel names on wallet, lock, cancel and
grant; JSON nested 1,000 deep (before auth); a lock `until` without a time zone; `page=2^63`; a
playlist over NATS's 1 MiB message limit; a simulator add while the store is down. Each answers
a 4xx or a 503 with a code now; anything unforeseen is logged with a request id that the 500
carries; and pages send their security headers."""

from __future__ import annotations

import json
import logging

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from entrypoints.http.hardening import REQUEST_ID_HEADER, hardened
from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_pay_to_play import bearer

ODD = ["a.b", "lobby.*", "lobby.>", "x" * 31, "%E2%80%AE", "l%20o"]


@pytest.mark.parametrize("channel", ODD)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/channels/{}/wallets/alice", None),
        ("POST", "/api/v1/channels/{}/wallets/alice/grants", {"amount": 5}),
        ("POST", "/api/v1/channels/{}/lock", {"label": "movie night"}),
        ("DELETE", "/api/v1/channels/{}/lock", None),
        ("DELETE", "/api/v1/channels/{}/pay-items/abcdefgh12", None),
    ],
)
async def test_odd_channel_names_are_a_400(
    service: Running, channel: str, method: str, path: str, body: object
) -> None:
    admin = bearer(service, "boss", "admin")
    r = await service.http.request(method, path.format(channel), json=body, headers=admin)
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"]["code"] == "invalid_channel"


@pytest.mark.parametrize("with_token", [False, True])
async def test_json_nested_1000_deep_is_a_400_even_before_auth(
    service: Running, with_token: bool
) -> None:
    body = "[" * 1000 + "]" * 1000
    headers = {"content-type": "application/json"}
    if with_token:
        headers |= bearer(service, "boss", "admin")
    for path in ("/api/v1/channels/lobby/pay-items", "/api/v1/channels/lobby/lock"):
        r = await service.http.post(path, content=body, headers=headers)
        assert r.status_code in (400, 401), r.text[:300]
        assert r.json()["error"]["code"] in ("invalid_request", "missing_token")


async def test_a_lock_until_without_a_time_zone_is_a_400(service: Running) -> None:
    admin = bearer(service, "boss", "admin")
    r = await service.http.post(
        "/api/v1/channels/lobby/lock",
        json={"label": "movie night", "until": "2030-01-01T20:00:00"},
        headers=admin,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_request"
    assert "timezone" in json.dumps(r.json()["error"]["fields"])


@pytest.mark.parametrize("page", [2**63, 2**31, 10**30])
async def test_a_page_far_past_the_end_is_a_400_or_empty(service: Running, page: int) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    r = await service.http.get(
        "/api/v1/admin/projections/queue_shadow/tables/queue_items",
        params={"page": page},
        headers=admin,
    )
    assert r.status_code in (200, 400), r.text[:300]
    if r.status_code == 400:
        assert r.json()["error"]["code"] == "invalid_request"


async def test_a_playlist_over_the_message_limit_is_a_413(service: Running) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    title = "t" * 500
    items = [
        {
            "media_type": "yt",
            "media_id": f"m{n:05d}" + "x" * 290,
            "duration_sec": 60,
            "title": title,
        }
        for n in range(1400)
    ]
    body = {"name": "huge", "items": items}
    assert len(json.dumps(body)) > 1024 * 1024
    r = await service.http.post("/api/v1/channels/lobby/playlists", json=body, headers=admin)
    assert r.status_code == 413, r.text[:300]
    assert r.json()["error"]["code"] == "too_large"
    again = await service.http.post(
        "/api/v1/channels/lobby/playlists",
        json={"name": "small", "items": items[:3]},
        headers=admin,
    )
    assert again.status_code == 201, again.text[:300]


async def test_a_simulator_add_while_the_log_is_down_is_a_503(service: Running) -> None:
    await caught_up(service)
    store = service.services.kernel.log.events
    store.connection_lost()  # what a dropped connection tells the store
    nc = service.services.kernel.log.nc
    await nc.close()  # the log is gone (the connection is reopened a moment later)
    body = {"media_type": "yt", "media_id": "down1", "title": "Down", "duration_sec": 60}
    r = await service.sim.post("/api/v1/sim/lobby/media", json=body)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "log_unavailable"


async def test_every_answer_has_a_request_id_and_pages_send_security_headers(
    service: Running,
) -> None:
    for path in ("/", "/admin", "/health", "/api/v1/channels/lobby/queue"):
        r = await service.http.get(path)
        assert r.headers.get(REQUEST_ID_HEADER), path
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), path
    page = await service.http.get("/")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers.get("x-frame-options") == "DENY"


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_an_unforeseen_error_is_a_500_with_a_request_id_that_is_in_the_log() -> None:
    @get("/boom")
    async def boom() -> None:
        raise ZeroDivisionError("a bug of ours")

    app = Litestar(route_handlers=[boom], **hardened({}))
    kept = Kept()
    logger = logging.getLogger("webqueue.http")
    logger.addHandler(kept)  # Litestar sets up logging of its own: not through caplog's root
    try:
        async with AsyncTestClient(app) as client:
            r = await client.get("/boom")
    finally:
        logger.removeHandler(kept)
    assert r.status_code == 500
    body = r.json()["error"]
    assert body["code"] == "internal_error" and "a bug of ours" not in body["message"]
    rid = body["request_id"]
    assert rid and r.headers[REQUEST_ID_HEADER] == rid
    logged = [rec for rec in kept.records if rid in rec.getMessage()]
    assert logged and logged[0].exc_info is not None
