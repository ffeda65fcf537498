"""The Economy contract: what every economy adapter must do, tested the same way.

Two adapters run it: the local ledger on an in-memory log, and `KrytenEconomy` talking to the
real `kryten-economy` from PyPI, started against the session's nats-server. Its prices come from
its own configuration and a rank discount, so the shared cases assert relations (a balance drops
by the cost the reply reported), never a price table; the local ledger's table is tested on its
own below.

The real economy needs Python 3.12 (every published version uses 3.12-only syntax). The fixture
looks for it in `WEBQUEUE_TEST_PYTHON312`, under pyenv, then on PATH; installs `kryten-economy`
into a virtualenv of its own under `WEBQUEUE_TEST_CACHE` (default: the user's cache dir, outside
the repository) and reuses it on later runs. Without Python 3.12, or when the install fails, the
kryten cases are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import pytest
from attrs import frozen
from nats.aio.client import Client

from adapters.clock import WallClock
from adapters.kryten.economy import KrytenEconomy
from adapters.ledger.local_ledger import DEFAULT_PRICING, LocalLedger, Pricing
from adapters.log.codec import Codec
from adapters.log.memory_store import InMemoryEventStore
from application.log.command_handler import CommandHandler
from application.log.ports import StreamId
from application.pay.economy import Economy, EconomyUnavailable
from domain.registry import EVENT_TYPES
from domain.wallet import model as wallet_model
from domain.wallet.model import WALLET_EVENTS, RequestRefunded
from tests.conftest import missing

RICH = 100_000  # above any price the economy's default config asks (10,000 for a movie)
MINUTES_10 = 600

# -- the real kryten-economy as a test peer --------------------------------------------------

PYTHON312_ENV = "WEBQUEUE_TEST_PYTHON312"
CACHE_ENV = "WEBQUEUE_TEST_CACHE"
PACKAGE = "kryten-economy"
# The version the contract was last checked against (and the kryten-py it ran with): a new
# release is taken on purpose, by changing these, never by surprise.
PINNED = "0.16.1"
REQUIREMENTS = (f"{PACKAGE}=={PINNED}", "kryten-py==0.17.5")
START_TIMEOUT = 30.0
INSTALL_TIMEOUT = 900.0
ECONOMY_SUBJECT = "kryten.economy.command"


class PeerMissing(Exception):
    """Something the real economy needs is not here; the reason names it."""


@frozen
class KrytenPeer:
    url: str
    channel: str
    version: str
    started_in_sec: float
    log: Path


def _cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "webqueue-test"


def _is_python312(python: str) -> bool:
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "True"


def _pyenv_roots() -> list[str]:
    roots = [os.environ.get("PYENV_ROOT", "")]
    if shutil.which("pyenv"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                ["pyenv", "root"], capture_output=True, text=True, timeout=30, check=False
            )
            roots.append(done.stdout.strip())
    roots.append(str(Path.home() / ".pyenv"))
    return [root for root in dict.fromkeys(roots) if root]


def _find_python312() -> str:
    candidates: list[str] = []
    if os.environ.get(PYTHON312_ENV):
        candidates.append(os.environ[PYTHON312_ENV])
    for root in _pyenv_roots():
        candidates += sorted(glob.glob(f"{root}/versions/3.12*/bin/python3.12"), reverse=True)
    found = shutil.which("python3.12")
    if found:
        candidates.append(found)
    for python in dict.fromkeys(candidates):
        if _is_python312(python):
            return python
    raise PeerMissing(
        f"no Python 3.12 interpreter (every published {PACKAGE} needs one): looked at "
        f"${PYTHON312_ENV}, pyenv versions/3.12*, python3.12 on PATH ({candidates or 'none'})"
    )


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def _installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not (python.exists() and (venv / "bin" / PACKAGE).exists()):
        return None
    probe = "import kryten_economy, importlib.metadata as m; print(m.version('kryten-economy'))"
    try:
        done = _run([str(python), "-c", probe], timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _ensure_venv() -> tuple[Path, str]:
    """The cached virtualenv with kryten-economy installed, created on first use; its version."""
    python = _find_python312()
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / "kryten-economy-py312"
    with open(cache / "kryten-economy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session may be installing it right now
        version = _installed_version(venv)
        if version == PINNED:
            return venv, version
        shutil.rmtree(venv, ignore_errors=True)
        try:
            made = _run([python, "-m", "venv", str(venv)], timeout=300)
            if made.returncode != 0:
                raise PeerMissing(
                    f"could not create a Python 3.12 virtualenv with {python}:\n"
                    f"{_tail(made.stderr or made.stdout)}"
                )
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install"]
            installed = _run([*pip, "--disable-pip-version-check", *REQUIREMENTS], INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(venv, ignore_errors=True)
            raise PeerMissing(f"installing {PACKAGE} took longer than {exc.timeout:g} s") from exc
        if installed.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise PeerMissing(
                f"pip install {PACKAGE} failed:\n{_tail(installed.stderr or installed.stdout)}"
            )
        version = _installed_version(venv)
        if version is None:
            raise PeerMissing(f"{PACKAGE} installed but does not import under {python}")
        return venv, version


def _die_with_parent() -> None:
    """Linux: the economy gets SIGTERM if this test process dies without its teardown."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_config(directory: Path, nats_url: str, channel: str) -> Path:
    """The package ships no example config; these are its required keys (nats, channels,
    metrics.port) plus a database in tmp, and nothing that moves balances by itself."""
    config = {
        "nats": {"servers": [nats_url]},
        "channels": [{"domain": "cytu.be", "channel": channel}],
        "database": {"backend": "sqlite", "path": str(directory / "economy.db")},
        "metrics": {"port": _free_port()},
        "mediacms": {"base_url": ""},
        "rain": {"enabled": False},
        "balance_maintenance": {"mode": "none"},
    }
    path = directory / "config.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


async def _answers(nc: Client, channel: str) -> bool:
    body = json.dumps({"command": "balance.get", "channel": channel, "username": "probe"})
    try:
        reply = await nc.request(ECONOMY_SUBJECT, body.encode(), timeout=1.0)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return False
    return bool(json.loads(reply.data).get("success"))


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


@pytest.fixture(scope="session")
async def kryten_economy_peer(
    nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[KrytenPeer]:
    try:
        venv, version = await asyncio.to_thread(_ensure_venv)
    except PeerMissing as exc:
        missing(f"real {PACKAGE} not available: {exc}")
    directory = tmp_path_factory.mktemp("kryten-economy")
    channel = f"wqecon{uuid.uuid4().hex[:6]}"
    config = _write_config(directory, nats_url, channel)
    log = directory / "economy.log"
    nc = await nats.connect(nats_url)
    started = time.monotonic()
    out = await asyncio.to_thread(log.open, "wb")
    with out:
        process = await asyncio.create_subprocess_exec(
            str(venv / "bin" / PACKAGE),
            "--config",
            str(config),
            cwd=directory,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}},
            preexec_fn=_die_with_parent,
        )
    try:
        while not await _answers(nc, channel):
            if process.returncode is not None or time.monotonic() - started > START_TIMEOUT:
                pytest.fail(
                    f"{PACKAGE} {version} did not answer balance.get within "
                    f"{START_TIMEOUT:g} s (exit code {process.returncode}); log tail:\n"
                    f"{_tail(log.read_text(errors='replace'), 30)}"
                )
            await asyncio.sleep(0.2)
        yield KrytenPeer(nats_url, channel, version, time.monotonic() - started, log)
    finally:
        await nc.close()
        await _stop(process)


# -- the harness every case runs on -----------------------------------------------------------


@frozen
class Harness:
    kind: str
    economy: Economy
    channel: str
    fund: Callable[[str, int], Awaitable[None]]


def _codec() -> Codec:
    return Codec(event_types={**EVENT_TYPES, **{c.__name__: c for c in WALLET_EVENTS}})


@pytest.fixture(params=["local", "kryten"])
def economy_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def peer(economy_kind: str, request: pytest.FixtureRequest) -> KrytenPeer | None:
    """The session's real economy, started (or skipped) only when a kryten case asks for it."""
    if economy_kind != "kryten":
        return None
    found: KrytenPeer = request.getfixturevalue("kryten_economy_peer")
    return found


@pytest.fixture(name="h")
async def harness(economy_kind: str, peer: KrytenPeer | None) -> AsyncIterator[Harness]:
    if peer is None:
        ledger = LocalLedger(CommandHandler(InMemoryEventStore(codec=_codec()), WallClock()))

        async def grant(user: str, amount: int) -> None:
            await ledger.grant("lobby", user, amount, by="test", reason="contract")

        yield Harness(economy_kind, ledger, "lobby", grant)
        return
    nc = await nats.connect(peer.url)

    async def adjust(user: str, amount: int) -> None:
        body: dict[str, object] = {"command": "balance.adjust", "channel": peer.channel}
        body |= {"username": user, "amount": amount, "reason": "contract"}
        reply = json.loads((await nc.request(ECONOMY_SUBJECT, json.dumps(body).encode(), 5)).data)
        assert reply["success"] and reply["data"]["amount"] == amount, reply

    yield Harness(economy_kind, KrytenEconomy(nc), peer.channel, adjust)
    await nc.close()


def new_user() -> str:
    """Every case has users of its own: the real economy is shared by the whole session."""
    return f"u{uuid.uuid4().hex[:10]}"


def new_request_id() -> str:
    """The real economy keeps request ids in one namespace, across channels and users."""
    return f"rq-{uuid.uuid4().hex}"


async def rich_user(h: Harness) -> str:
    user = new_user()
    await h.fund(user, RICH)
    return user


# -- the contract -----------------------------------------------------------------------------


async def test_a_funded_user_spends_and_the_balance_drops_by_the_cost(h: Harness) -> None:
    user = await rich_user(h)
    before = await h.economy.balance(h.channel, user)
    assert before == RICH
    out = await h.economy.spend(h.channel, user, MINUTES_10, "queue", new_request_id())
    assert out.ok and out.error_code is None
    assert out.cost > 0
    assert await h.economy.balance(h.channel, user) == before - out.cost
    assert out.balance in (None, before - out.cost)


async def test_a_repeated_spend_answers_the_same_and_debits_once(h: Harness) -> None:
    user = await rich_user(h)
    request_id = new_request_id()
    first = await h.economy.spend(h.channel, user, MINUTES_10, "queue", request_id)
    after_first = await h.economy.balance(h.channel, user)
    again = await h.economy.spend(h.channel, user, MINUTES_10, "queue", request_id)
    assert (again.ok, again.cost, again.error_code) == (first.ok, first.cost, None)
    assert await h.economy.balance(h.channel, user) == after_first == RICH - first.cost


async def test_a_refund_restores_the_balance_once(h: Harness) -> None:
    user = await rich_user(h)
    request_id = new_request_id()
    spent = await h.economy.spend(h.channel, user, MINUTES_10, "playnext", request_id)
    assert spent.ok
    refund = await h.economy.refund(h.channel, user, request_id, "add_failed")
    assert refund.ok and refund.error_code is None
    assert refund.refunded == spent.cost
    assert await h.economy.balance(h.channel, user) == RICH
    assert refund.balance in (None, RICH)
    again = await h.economy.refund(h.channel, user, request_id, "add_failed")
    assert (again.ok, again.refunded) == (True, spent.cost)
    assert await h.economy.balance(h.channel, user) == RICH


async def test_a_refunded_request_is_not_debited_again(h: Harness) -> None:
    user = await rich_user(h)
    request_id = new_request_id()
    spent = await h.economy.spend(h.channel, user, MINUTES_10, "queue", request_id)
    await h.economy.refund(h.channel, user, request_id, "owner_left")
    again = await h.economy.spend(h.channel, user, MINUTES_10, "queue", request_id)
    assert (again.ok, again.cost) == (True, spent.cost)
    assert await h.economy.balance(h.channel, user) == RICH


async def test_refunding_an_unknown_request_id_is_refused(h: Harness) -> None:
    user = await rich_user(h)
    out = await h.economy.refund(h.channel, user, new_request_id(), "add_failed")
    assert (out.ok, out.refunded, out.error_code) == (False, 0, "unknown_request_id")
    assert await h.economy.balance(h.channel, user) == RICH


async def test_a_poor_user_is_refused_and_keeps_the_balance(h: Harness) -> None:
    user = new_user()
    await h.fund(user, 1)
    request_id = new_request_id()
    out = await h.economy.spend(h.channel, user, MINUTES_10, "queue", request_id)
    assert (out.ok, out.error_code) == (False, "insufficient_balance")
    assert out.cost > 1
    assert out.message
    assert await h.economy.balance(h.channel, user) == 1
    again = await h.economy.spend(h.channel, user, MINUTES_10, "queue", request_id)
    assert (again.ok, again.error_code) == (False, "insufficient_balance")
    assert await h.economy.balance(h.channel, user) == 1


async def test_a_preview_prices_what_a_spend_then_costs(h: Harness) -> None:
    user = await rich_user(h)
    quote = await h.economy.preview(h.channel, user, MINUTES_10, "queue")
    assert quote.available and quote.error_code is None
    assert quote.cost > 0
    assert quote.balance in (None, RICH)
    assert await h.economy.balance(h.channel, user) == RICH  # a preview moves nothing
    out = await h.economy.spend(h.channel, user, MINUTES_10, "queue", new_request_id())
    assert out.cost == quote.cost


async def test_a_preview_of_an_unaffordable_item_says_why(h: Harness) -> None:
    user = new_user()
    await h.fund(user, 1)
    quote = await h.economy.preview(h.channel, user, MINUTES_10, "queue")
    assert (quote.available, quote.error_code) == (False, "insufficient_balance")
    assert quote.cost > 1
    assert quote.message
    assert await h.economy.balance(h.channel, user) == 1


async def test_longer_items_cost_at_least_as_much(h: Harness) -> None:
    user = await rich_user(h)
    costs = [
        (await h.economy.preview(h.channel, user, minutes * 60, "queue")).cost
        for minutes in (5, 30, 60, 120)
    ]
    assert costs == sorted(costs) and costs[0] < costs[-1]


async def test_a_user_never_seen_has_nothing(h: Harness) -> None:
    assert await h.economy.balance(h.channel, new_user()) == 0


@pytest.mark.parametrize("duration_sec", [0, -60])
async def test_a_malformed_request_moves_nothing(h: Harness, duration_sec: int) -> None:
    user = await rich_user(h)
    with pytest.raises(EconomyUnavailable):
        await h.economy.preview(h.channel, user, duration_sec, "queue")
    with pytest.raises(EconomyUnavailable):
        await h.economy.spend(h.channel, user, duration_sec, "queue", new_request_id())
    assert await h.economy.balance(h.channel, user) == RICH


# -- the local ledger alone: its price table and its own log ---------------------------------


@pytest.mark.parametrize(
    ("duration_sec", "cost"),
    [(1, 250), (900, 250), (901, 500), (2100, 500), (2101, 750), (3900, 750), (3901, 1000)],
)
def test_the_local_price_table(duration_sec: int, cost: int) -> None:
    assert DEFAULT_PRICING.cost_for(duration_sec) == cost


def test_local_pricing_is_configurable_and_never_free() -> None:
    pricing = Pricing(tiers=[(60, 0), (600, 40)], longer=90)
    assert [pricing.cost_for(s) for s in (30, 61, 601)] == [1, 40, 90]
    assert Pricing(tiers=(), longer=0).cost_for(10) == 1
    with pytest.raises(ValueError):
        Pricing(tiers=((600, 10), (60, 5)))
    with pytest.raises(ValueError):
        DEFAULT_PRICING.cost_for(0)


def _ledger(store: InMemoryEventStore | None = None, **kw: Pricing) -> LocalLedger:
    return LocalLedger(
        CommandHandler(store or InMemoryEventStore(codec=_codec()), WallClock()), **kw
    )


async def test_the_local_ledger_charges_its_configured_prices() -> None:
    ledger = _ledger(pricing=Pricing(tiers=((600, 7),), longer=11))
    assert await ledger.grant("lobby", "ann", 20, by="mod") == 20
    assert (await ledger.preview("lobby", "ann", 600, "queue")).cost == 7
    out = await ledger.spend("lobby", "ann", 601, "queue", "r1")
    assert (out.ok, out.cost, out.balance) == (True, 11, 9)


async def test_a_local_wallet_is_one_per_user_whatever_the_case() -> None:
    store = InMemoryEventStore(codec=_codec())
    ledger = _ledger(store)
    await ledger.grant("lobby", "Ann", 1000, by="mod")
    await ledger.spend("lobby", "ANN", 60, "queue", "r1")
    assert await ledger.balance("lobby", "ann") == 750
    assert await ledger.balance("other", "ann") == 0
    stream = StreamId("lobby", "wallet", "ann")
    assert [c.commit.commit_id for c in await store.read_stream(stream)][1] == "spend:lobby:ann:r1"


async def test_a_locally_declined_request_stays_declined() -> None:
    """Unlike the real economy, which forgets a declined spend and would take a retry."""
    ledger = _ledger()
    declined = await ledger.spend("lobby", "ann", 60, "queue", "r1")
    assert (declined.ok, declined.error_code, declined.cost) == (False, "insufficient_balance", 250)
    await ledger.grant("lobby", "ann", 1000, by="mod")
    assert await ledger.spend("lobby", "ann", 60, "queue", "r1") == declined
    refund = await ledger.refund("lobby", "ann", "r1", "add_failed")
    assert (refund.ok, refund.error_code) == (False, "nothing_to_refund")
    assert await ledger.balance("lobby", "ann") == 1000


async def test_concurrent_local_spends_of_one_request_debit_once() -> None:
    """Two processes (two handlers on one log) racing the same spend append it once."""
    store = InMemoryEventStore(codec=_codec())
    first, second = _ledger(store), _ledger(store)
    await first.grant("lobby", "ann", 1000, by="mod")
    outcomes = await asyncio.gather(
        *(ledger.spend("lobby", "ann", 60, "queue", "r1") for ledger in (first, second, first))
    )
    assert {(o.ok, o.cost, o.balance) for o in outcomes} == {(True, 250, 750)}
    assert await second.balance("lobby", "ann") == 750
    assert len(await store.read_stream(StreamId("lobby", "wallet", "ann"))) == 2


def test_the_cache_dir_is_outside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    repo = Path(__file__).resolve().parents[2]
    assert repo not in _cache_dir().resolve().parents


async def test_a_local_key_is_answered_the_same_for_ever_after_the_wallet_forgot_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wallet keeps only its latest requests; the key's own record keeps it for ever, so a
    key sent again long after is neither debited again nor refunded twice."""
    monkeypatch.setattr(wallet_model, "REMEMBERED_REQUESTS", 3)
    store = InMemoryEventStore(codec=_codec())
    ledger = _ledger(store)
    await ledger.grant("lobby", "ann", 5000, by="mod")
    first = await ledger.spend("lobby", "ann", 60, "queue", "wq/lobby/old/spend")
    for n in range(6):
        await ledger.spend("lobby", "ann", 60, "queue", f"wq/lobby/later{n}/spend")
    forgotten = await ledger._wallet("lobby", "ann")
    assert "wq/lobby/old/spend" not in forgotten.requests
    assert await ledger.spend("lobby", "ann", 60, "queue", "wq/lobby/old/spend") == first
    assert await ledger.balance("lobby", "ann") == 5000 - 7 * 250
    refund = await ledger.refund("lobby", "ann", "wq/lobby/old/spend", "owner_left")
    assert (refund.ok, refund.refunded) == (True, 250)
    again = await ledger.refund("lobby", "ann", "wq/lobby/old/spend", "owner_left")
    assert (again.ok, again.refunded) == (True, 250)
    assert await ledger.balance("lobby", "ann") == 5000 - 6 * 250
    events = [
        e
        for c in await store.read_stream(StreamId("lobby", "wallet", "ann"))
        for e in c.commit.events
    ]
    assert sum(1 for e in events if isinstance(e, RequestRefunded)) == 1


async def test_a_local_top_up_is_taken_once_per_key_and_given_back_like_a_spend() -> None:
    ledger = _ledger()
    await ledger.grant("lobby", "ann", 600, by="mod")
    key = "wq/lobby/r1/topup"
    taken = await ledger.top_up("lobby", "ann", 250, key)
    assert (taken.ok, taken.cost, taken.balance) == (True, 250, 350)
    assert await ledger.top_up("lobby", "ann", 250, key) == taken
    poor = await ledger.top_up("lobby", "ann", 400, "wq/lobby/r2/topup")
    assert (poor.ok, poor.error_code) == (False, "insufficient_balance")
    back = await ledger.refund("lobby", "ann", key, "underpaid")
    assert (back.ok, back.refunded) == (True, 250)
    assert await ledger.balance("lobby", "ann") == 600


async def test_kryten_economy_takes_no_top_up() -> None:
    """It has no idempotent debit of an amount: the purchase is undone instead."""
    economy = KrytenEconomy(None)  # type: ignore[arg-type]  # never called for a top-up
    out = await economy.top_up("lobby", "ann", 250, "wq/lobby/r1/topup")
    assert (out.ok, out.error_code) == (False, "top_up_unsupported")
