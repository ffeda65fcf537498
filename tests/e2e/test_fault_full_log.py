"""A full log store: purchases are refused clearly, and nothing is charged without being recorded.

The log's nats-server here has a real JetStream storage limit (`max_file_store`), which needs no
privilege: once another stream on the same server has taken the room, every append is answered
`insufficient resources` (err_code 10023), exactly what JetStream answers when its disk is full.
A purchase then is a 503 `log_full` (not a timeout, not a 500), the wallet keeps every coin, and
no fact in the log names the refused request. Once there is room again the same request buys,
charged once, and the money audit over the whole log is clean.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import nats
import nats.js.errors
import pytest

from adapters.nats.embedded_server import find_nats_server_binary
from application.pay.audit import audit_log
from tests.e2e.conftest import Running, free_port, serving
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_money_rules import PAY, body, granted
from tests.e2e.test_pay_to_play import balance, bearer, settled

LIMIT = 64 * 1024 * 1024  # the server's whole JetStream file store
CHUNK = 512 * 1024


@pytest.fixture
def limited_broker(tmp_path: Path) -> Iterator[str]:
    """An open nats-server of the test's own whose JetStream may keep at most `LIMIT` bytes."""
    port = free_port()
    store = tmp_path / "broker-js"
    conf = tmp_path / "broker.conf"
    conf.write_text(
        f'listen: "127.0.0.1:{port}"\n'
        f'jetstream {{ store_dir: "{store}", max_file_store: {LIMIT}, '
        f"max_memory_store: {16 * 1024 * 1024} }}\n"
    )
    log = open(tmp_path / "broker.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([find_nats_server_binary(), "-c", str(conf)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while b"Server is ready" not in (tmp_path / "broker.log").read_bytes():
            assert proc.poll() is None, (tmp_path / "broker.log").read_text()
            assert time.monotonic() < deadline, "the limited nats-server never got ready"
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
async def filler(limited_broker: str) -> AsyncIterator[nats.js.JetStreamContext]:
    nc = await nats.connect(limited_broker)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def fill(js: nats.js.JetStreamContext) -> int:
    """Another stream on the server takes every byte left; the server's answer when it is
    full is JetStream's own `insufficient resources`."""
    await js.add_stream(name="FILLER", subjects=["filler.>"])
    chunks = 0
    for size in (CHUNK, 16 * 1024, 512):
        while True:
            try:
                await js.publish("filler.x", b"\0" * size)
            except nats.js.errors.APIError as exc:
                assert exc.err_code == 10023, exc
                break
            chunks += 1
    return chunks


async def named_in_log(svc: Running, rid: str) -> list[str]:
    """Every fact in the log that names `rid` (a purchase, its claim, a wallet key)."""
    found = []
    async for stored in svc.services.kernel.log.events.read_all(channel="lobby"):
        for event in stored.commit.events:
            for value in (getattr(event, "request_id", None), stored.commit.stream.id):
                if isinstance(value, str) and rid in value:
                    found.append(type(event).__name__)
                    break
    return found


async def test_a_full_log_refuses_purchases_clearly_and_charges_nothing(
    tmp_path: Path,
    limited_broker: str,
    filler: nats.js.JetStreamContext,
) -> None:
    flow_log = logging.getLogger("application.pay.flow")
    heard = Heard()
    flow_log.addHandler(heard)
    try:
        await full_log_scenario(tmp_path, limited_broker, filler, heard)
    finally:
        flow_log.removeHandler(heard)


class Heard(logging.Handler):
    """What the pay flow said (the service sets its own log handlers; this one is ours)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def full_log_scenario(
    tmp_path: Path, limited_broker: str, filler: nats.js.JetStreamContext, heard: Heard
) -> None:
    async with serving(
        tmp_path / "data",
        nats_url=limited_broker,
        allow_open_nats=True,
        cytube="sim",
        economy="local",
        sim_speed=1.0,
    ) as svc:
        await caught_up(svc)
        ann = await granted(svc, "ann", 1000)
        assert await fill(filler) > 0
        rid = "bought-on-a-full-log"
        for _ in range(3):  # asked again, as a client would: the same clear answer each time
            r = await svc.http.post(PAY, json=body("fullLog1", request_id=rid), headers=ann)
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "log_full", r.text
            assert r.headers["retry-after"]
        # A grant is refused the same way; nothing of either was recorded or charged.
        r = await svc.http.post(
            "/api/v1/channels/lobby/wallets/ann/grants",
            json={"amount": 5},
            headers=bearer(svc, "boss", "admin"),
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "log_full", r.text
        # Over NATS the same: a structured `log_full`, nothing recorded.
        token = ann["authorization"].removeprefix("Bearer ")
        nats_body = {"token": token, **body("fullLog1", request_id=rid)}
        reply = await svc.commands.handle(
            "wq.cmd.lobby.request_pay_item", msgspec.json.encode(nats_body)
        )
        answer = msgspec.json.decode(reply)
        assert answer["ok"] is False and answer["error"]["code"] == "log_full", answer
        assert await balance(svc, "ann", ann) == 1000
        assert await named_in_log(svc, rid) == []

        await filler.delete_stream("FILLER")  # room again
        r = await svc.http.post(PAY, json=body("fullLog1", request_id=rid), headers=ann)
        assert r.status_code == 202, r.text
        status = await settled(svc, rid, ann)
        assert status["status"] in ("positioned", "playing"), status
        assert await balance(svc, "ann", ann) == 750  # charged once, recorded

        # Purchases in flight when the log fills (paid, their adds paced 2 s apart): the flow
        # meets the full log and waits it out; whatever step each had reached, once there is
        # room every one finishes, and the wallet took exactly what the queue recorded (the
        # audit below joins the two).
        rids = []
        for n in range(3):
            r = await svc.http.post(PAY, json=body(f"inFlight{n}"), headers=ann)
            assert r.status_code == 202, r.text
            rids.append(r.json()["request_id"])
        heard.messages.clear()
        await fill(filler)

        def refused_full() -> bool:  # the pay flow met the full log, and waits it out
            return any("out of storage" in m for m in heard.messages)

        deadline = time.monotonic() + 30
        while not refused_full():
            assert time.monotonic() < deadline, "the pay flow never met the full log"
            await asyncio.sleep(0.1)
        await filler.delete_stream("FILLER")
        for in_flight in rids:
            assert (await settled(svc, in_flight, ann))["status"] in ("positioned", "playing")
        assert await balance(svc, "ann", ann) == 750 - 3 * 250

        async def clean() -> bool:
            now = svc.services.kernel.wall_clock.now()
            commits = svc.services.kernel.log.events.read_all(channel="lobby")
            report = await audit_log("lobby", commits, now)
            return report.ok and {rid, *rids} <= set(report.purchases)

        deadline = time.monotonic() + 20
        while not await clean():
            assert time.monotonic() < deadline, "the audit never came out clean"
            await asyncio.sleep(0.2)
