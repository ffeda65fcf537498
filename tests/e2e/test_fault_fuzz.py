"""Fuzz the HTTP API from its own OpenAPI document, and the NATS command subjects.

Against the real service in-process (its HTTP server on a free port, its embedded nats-server):

- HTTP: schemathesis loads `/schema/openapi.json` from the running service and generates cases
  for every operation, valid ones (positive) and invalid ones (negative), with the channel path
  parameter fixed to the real channel so cases get past the "unknown channel" check, plus a few
  with any channel at all. schemathesis's `Case.call` is blocking (requests), so the generation
  runs in a worker thread while the event loop keeps serving.
- NATS: hypothesis strategies for each command's fields, mixing valid values with wrong types,
  huge and unicode-heavy strings, unknown fields, and raw payloads that are not JSON at all.

Every case that carries a token carries a fresh one naming a user of its own (an admin over
HTTP, so cases get past authorisation; admin or viewer over NATS). So "a rejected request
appended nothing" is checked exactly, without depending on timing: no commit anywhere in the log
may have a rejected case's user as its actor (every write an HTTP or NATS command makes is
recorded with the caller as actor). The simulator controls (an admin's token each) are fuzzed on
a second, fresh service where nothing runs in the background (no purchases, no promo pools, a
virtual clock at a thousandth of real time): there the log head must not move across a 4xx.

Checks: no 5xx (no `internal_error` over NATS, and always a reply); every 4xx is
`{"error": {"code", "message"}}` with non-empty strings; nothing appended by a rejected request.
Example counts are fixed and derandomized, so a run is repeatable and takes seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import string
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from entrypoints.http.app import create_app
from entrypoints.nats_commands import COMMANDS as SERVED_COMMANDS
from tests.e2e.conftest import Running, command_client, serving

SLOW_SPEED = 0.001  # virtual seconds per real second: nothing falls due on its own meanwhile
# After a control that got through, the head must stay still this long before the next case:
# its observation lands a moment after the 200 (0.5 s was too short twice on a loaded CI run).
QUIET_SEC = 2.0
HTTP_EXAMPLES = {"positive": 20, "negative": 20, "any_channel": 5}
NATS_EXAMPLES = 600


def fuzz_settings(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate),  # no shrinking: report, do not dwell
    )


class Tally:
    """What the cases did, and which users' requests were refused."""

    def __init__(self) -> None:
        self.statuses = Counter[int]()
        self.codes = Counter[str]()
        self.problems: list[str] = []
        self.refused_users: set[str] = set()
        self.cases = 0
        self.per_target = Counter[str]()  # cases per HTTP operation or NATS command
        self.unsatisfiable: list[str] = []
        self.first: dict[str, str] = {}

    def problem(self, what: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(what)


def structured(body: Any) -> str | None:
    """The error code of `{"error": {"code", "message"}}`, or None if it is not that shape."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    code, message = body["error"].get("code"), body["error"].get("message")
    if not (isinstance(code, str) and code and isinstance(message, str) and message):
        return None
    return code


async def actors_in_log(svc: Running) -> Counter[str]:
    return Counter([c.commit.actor async for c in svc.services.kernel.log.events.read_all()])


def api_operations(svc: Running, *, only: str = "/api/", exclude: str | None = None) -> set[str]:
    """Every `METHOD path` the app routes under `only` (the fuzz must reach each one)."""
    app = create_app(svc.services)
    found = set()
    for route in app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        if not path.startswith(only) or (exclude and path.startswith(exclude)):
            continue
        for method in getattr(route, "route_handler_map", {}):
            if method not in ("HEAD", "OPTIONS"):
                found.add(f"{method} {path}")
    return found


def mint(svc: Running, user: str, role: str) -> str:
    token, _ = svc.services.identity.signer.issue(
        user, role, ttl_sec=3600, now=svc.services.kernel.wall_clock.now()
    )
    return str(token)


def http_fuzz(
    svc: Running,
    tally: Tally,
    operations: Callable[[Any], bool],
    *,
    authed: bool,
    on_case: Callable[[Any, Any], None] | None = None,
) -> None:
    """Runs in a worker thread: schemathesis cases against the service's URL."""
    schema = schemathesis.openapi.from_url(f"{svc.base}/schema/openapi.json", timeout=30)
    users = itertools.count(1)
    for result in schema.get_all_operations():
        op = result.ok()
        if not operations(op):
            continue
        has_channel = any(p.name == "channel" for p in op.path_parameters)
        runs = [
            ("positive", GenerationMode.POSITIVE, {"channel": "lobby"}),
            ("negative", GenerationMode.NEGATIVE, {"channel": "lobby"}),
            ("any_channel", GenerationMode.NEGATIVE, None),
        ]
        for name, mode, fixed in runs:
            if name == "any_channel" and not has_channel:
                continue
            strategy = op.as_strategy(
                generation_mode=mode, path_parameters=fixed if has_channel else None
            )

            @fuzz_settings(HTTP_EXAMPLES[name])
            @given(case=strategy)
            def one(case: Any) -> None:
                user = f"fzh{next(users)}"
                headers = {"authorization": f"Bearer {mint(svc, user, 'admin')}"} if authed else {}
                before = on_case(None, None) if on_case else None
                response = case.call(base_url=svc.base, headers=headers, timeout=30)
                tally.cases += 1
                tally.per_target[f"{case.method.upper()} {case.path}"] += 1
                tally.statuses[response.status_code] += 1
                where = f"{case.method} {case.formatted_path}"
                if response.status_code >= 500:
                    tally.problem(f"{response.status_code} from {where}: {response.text[:300]}")
                elif response.status_code >= 400:
                    tally.refused_users.add(user)
                    try:
                        code = structured(response.json())
                    except ValueError:
                        code = None
                    if code is None:
                        tally.problem(
                            f"unstructured {response.status_code} from {where}: "
                            f"{response.text[:300]}"
                        )
                    else:
                        tally.codes[code] += 1
                        tally.first.setdefault(code, f"{response.status_code} {where}")
                    if on_case is not None:
                        on_case(before, where)

            try:
                one()
            except Unsatisfiable:  # nothing to get wrong (no parameters, no body): no cases
                tally.unsatisfiable.append(f"{name} {op.method.upper()} {op.path}")


async def test_fuzz_the_http_api_from_its_openapi_document(tmp_path: Path) -> None:
    started = time.monotonic()
    tally = Tally()
    async with serving(tmp_path / "data", sim_speed=SLOW_SPEED) as svc:
        operations = api_operations(svc, exclude="/api/v1/sim/")
        await asyncio.to_thread(
            http_fuzz, svc, tally, lambda op: not op.path.startswith("/api/v1/sim/"), authed=True
        )
        actors = await actors_in_log(svc)
    appended_by_refused = {a: n for a, n in actors.items() if a in tally.refused_users}
    took = time.monotonic() - started
    print(
        f"\nHTTP fuzz: {tally.cases} cases in {took:.1f}s; "
        f"statuses {dict(sorted(tally.statuses.items()))}; "
        f"error codes {dict(tally.codes.most_common())}; "
        f"{len(tally.refused_users)} refused, {sum(actors.values())} commits in the log; "
        f"first of each code {tally.first}; no negative cases for {tally.unsatisfiable}"
    )
    assert not tally.problems, "\n".join(tally.problems)
    assert tally.cases >= 500, f"only {tally.cases} cases ran"  # a run that fuzzed nothing fails
    # ... and so does one that left an endpoint out (dropped from the OpenAPI document, say).
    assert operations <= set(tally.per_target), operations - set(tally.per_target)
    assert not appended_by_refused, f"refused requests appended commits: {appended_by_refused}"
    assert tally.statuses[200] + tally.statuses[201] + tally.statuses[202] > 0
    assert sum(n for s, n in tally.statuses.items() if 400 <= s < 500) > 0


async def test_fuzz_the_simulator_controls_and_a_refusal_appends_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    tally = Tally()
    moved: list[str] = []
    async with serving(tmp_path / "data", sim_speed=SLOW_SPEED) as svc:
        loop = asyncio.get_running_loop()

        def head() -> int:
            future = asyncio.run_coroutine_threadsafe(svc.services.kernel.log.events.head(), loop)
            return int(future.result(30))

        # -1: the first case also waits for quiet, as start-up work (the catalog's first
        # refresh) may still be appending; once its "completed" landed during the first case.
        got_through = [-1]

        def settled_head() -> int:
            """The head once the last control that got through has been observed: the
            simulator reports a change to the ingester, which appends a moment after the
            control's 200 (once, during the next case, it counted against a refusal)."""
            ok = sum(n for status, n in tally.statuses.items() if status < 400)
            last = head()
            if ok == got_through[0]:
                return last
            got_through[0] = ok
            quiet_since, deadline = time.monotonic(), time.monotonic() + 10
            while time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET_SEC:
                time.sleep(0.05)
                now = head()
                if now != last:
                    last, quiet_since = now, time.monotonic()
            return last

        def around(before: int | None, where: str | None) -> int | None:
            if where is None:
                return settled_head()
            after = head()
            if after != before:
                moved.append(f"{where}: the log moved from {before} to {after}")
            return None

        operations = api_operations(svc, only="/api/v1/sim/")
        await asyncio.to_thread(
            http_fuzz,
            svc,
            tally,
            lambda op: op.path.startswith("/api/v1/sim/"),
            authed=True,
            on_case=around,
        )
    took = time.monotonic() - started
    print(
        f"\nsimulator fuzz: {tally.cases} cases in {took:.1f}s; "
        f"statuses {dict(sorted(tally.statuses.items()))}; error codes {dict(tally.codes)}; "
        f"first of each code {tally.first}"
    )
    assert not tally.problems, "\n".join(tally.problems)
    assert tally.cases >= 250, f"only {tally.cases} cases ran"
    assert operations <= set(tally.per_target), operations - set(tally.per_target)
    assert sum(n for status, n in tally.statuses.items() if status < 300) > 0, "none got through"
    assert not moved, "\n".join(moved[:10])


# ---- NATS ----------------------------------------------------------------------------------

ADMIN, VIEWER = "<admin token>", "<viewer token>"
COMMANDS = (
    "request_pay_item",
    "preview_pay_item",
    "get_pay_item",
    "cancel_pay_item",
    "get_wallet",
    "grant",
    "lock_queue",
    "unlock_queue",
    "get_queue",
    "list_blessed",
    "bless_user",
    "unbless_user",
    "apply_playlist",
    "get_playlist_apply",
    "abort_playlist_apply",
    "like",
    "get_likes_now",
    "top_liked",
    "get_like_rules",
    "set_like_rules",
    "refresh_catalog",
    "get_catalog_refresh",
    "search_catalog",
    "get_catalog_item",
    "buy_catalog_item",
    "get_rules",
    "set_rules",
    "list_schedules",
    "create_schedule",
    "edit_schedule",
    "set_schedule_active",
    "delete_schedule",
    "fire_schedule",
    "lift_event_lock",
    "upcoming_schedules",
)
unicode_heavy = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40
)
huge = st.builds(
    lambda s, n: s * n,
    st.sampled_from(["x", "💥ü", "\u202e\u0000", 'a"b\\']),
    st.integers(200, 40_000),
)


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=20)
)
anything = st.recursive(st.one_of(scalars, unicode_heavy), _nested, max_leaves=8)
wrong = st.one_of(anything, huge, unicode_heavy)
"""A wrong value for any field: a wrong type, a huge or a unicode-heavy string."""

VALID: dict[str, st.SearchStrategy[Any]] = {
    "token": st.sampled_from([ADMIN, VIEWER]),
    "media_type": st.sampled_from(["yt", "vi", "dm"]),
    "media_id": st.text(string.ascii_letters + string.digits, min_size=1, max_size=12),
    "duration_sec": st.integers(1, 7200),
    "tier": st.sampled_from(["queue", "playnext"]),
    "title": st.text(max_size=30),
    "request_id": st.from_regex(r"[A-Za-z0-9_.:-]{8,20}", fullmatch=True),
    "reason": st.sampled_from(["admin_remove", "spam"]),
    "user": st.sampled_from(["alice", "bob", "Ünïcødé"]),
    "amount": st.integers(1, 5000),
    "label": st.text(min_size=1, max_size=30),
    "until": st.datetimes().map(lambda d: d.isoformat() + "Z"),
    "playlist_id": st.text(string.hexdigits.lower()[:16], min_size=1, max_size=32),
    "name": st.text(min_size=1, max_size=30),
    "mode": st.sampled_from(["preserve_current", "append", "hard_replace"]),
    "apply_id": st.text(string.hexdigits.lower()[:16], min_size=1, max_size=32),
    "item_id": st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=20),
    "since": st.datetimes().map(lambda d: d.isoformat() + "Z"),
    "window": st.sampled_from(["30m", "12h", "7d", "2w"]),
    "limit": st.integers(1, 100),
    "full": st.booleans(),
    "q": st.text(max_size=30),
    "categories": st.lists(st.text(min_size=1, max_size=20), max_size=3),
    "category_mode": st.sampled_from(["any", "all"]),
    "sort": st.sampled_from(["relevance", "title", "newest"]),
    "page": st.integers(1, 50),
    "per_page": st.integers(1, 100),
    "available_only": st.booleans(),
    "key": st.text(string.ascii_letters + string.digits, min_size=1, max_size=12),
    "max_pending_per_viewer": st.integers(0, 10),
    "cooldown_minutes": st.floats(0, 60),
    "fair_order": st.booleans(),
    "rate_limit": st.integers(0, 1001),
    "rate_window_seconds": st.integers(0, 100_000),
    "dedupe_window_seconds": st.integers(-1, 100_000),
    "schedule_id": st.text(string.hexdigits.lower()[:16], min_size=1, max_size=32),
    "fire_at": st.datetimes().map(lambda d: d.isoformat()),
    "rrule": st.sampled_from(["FREQ=WEEKLY", "FREQ=DAILY;COUNT=3", "nope"]),
    "active": st.booleans(),
    "expected_version": st.text(string.hexdigits.lower()[:16], min_size=1, max_size=16),
    "days": st.floats(0.5, 30),
}
SHAPES = {
    "request_pay_item": [
        "token",
        "media_type",
        "media_id",
        "duration_sec",
        "tier",
        "title",
        "request_id",
    ],
    "preview_pay_item": ["token", "media_type", "media_id", "duration_sec", "tier"],
    "get_pay_item": ["token", "request_id"],
    "cancel_pay_item": ["token", "request_id", "reason"],
    "get_wallet": ["token", "user"],
    "grant": ["token", "user", "amount"],
    "lock_queue": ["token", "label", "until"],
    "unlock_queue": ["token"],
    "get_queue": ["token"],
    "list_blessed": ["token"],
    "bless_user": ["token", "user"],
    "unbless_user": ["token", "user"],
    "apply_playlist": ["token", "playlist_id", "name", "mode"],
    "get_playlist_apply": ["token", "apply_id"],
    "abort_playlist_apply": ["token", "apply_id"],
    "like": ["token", "item_id"],
    "get_likes_now": ["token"],
    "top_liked": ["token", "since", "until", "window", "limit"],
    "get_like_rules": ["token"],
    "set_like_rules": ["token", "rate_limit", "rate_window_seconds", "dedupe_window_seconds"],
    "refresh_catalog": ["token", "full"],
    "get_catalog_refresh": ["token"],
    "search_catalog": [
        "token",
        "q",
        "categories",
        "category_mode",
        "sort",
        "page",
        "per_page",
        "available_only",
    ],
    "get_catalog_item": ["token", "key"],
    "buy_catalog_item": ["token", "key", "tier", "request_id"],
    "get_rules": ["token"],
    "set_rules": ["token", "max_pending_per_viewer", "cooldown_minutes", "fair_order"],
    "list_schedules": ["token"],
    "create_schedule": ["token", "playlist_id", "label", "fire_at", "rrule"],
    "edit_schedule": ["token", "schedule_id", "label", "fire_at", "rrule", "expected_version"],
    "set_schedule_active": ["token", "schedule_id", "active"],
    "delete_schedule": ["token", "schedule_id"],
    "fire_schedule": ["token", "schedule_id"],
    "lift_event_lock": ["token"],
    "upcoming_schedules": ["token", "days"],
}


@st.composite
def nats_case(draw: st.DrawFn) -> tuple[str, Any]:
    """(command, body): the command's fields with none, one or a few of them wrong, left out or
    joined by an unknown one; or something that is not a JSON object at all."""
    command = draw(st.sampled_from([*COMMANDS, "nope", "GRANT"]))
    kind = draw(st.sampled_from(["fields"] * 6 + ["raw", "not_an_object"]))
    if kind == "raw":
        return command, draw(
            st.one_of(
                st.binary(max_size=200),
                st.just(b"{not json"),
                st.just(b'{"token": "'),
                huge.map(lambda s: json.dumps({"token": ADMIN, "title": s}).encode()),
                st.just(b"{}" + b" " * (70 * 1024)),
                st.just(b"[" * 1000 + b"]" * 1000),  # deeper than the decoder goes
                st.just(b'{"token": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001),
            )
        )
    if kind == "not_an_object":
        return command, draw(anything.filter(lambda v: not isinstance(v, dict)))
    names = SHAPES.get(command, ["token"])
    spoilt = draw(st.just(set()) | st.sets(st.sampled_from(names), min_size=1, max_size=2))
    body = {}
    for name in names:
        if name in spoilt and draw(st.booleans()):
            continue  # left out
        body[name] = draw(wrong if name in spoilt else VALID[name])
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(min_size=1, max_size=10))] = draw(anything)
    return command, body


async def test_fuzz_the_nats_command_subjects(tmp_path: Path) -> None:
    started = time.monotonic()
    tally = Tally()
    async with serving(tmp_path / "data", sim_speed=SLOW_SPEED) as svc:
        loop = asyncio.get_running_loop()
        nc = await command_client(svc)
        users = itertools.count(1)
        try:

            async def ask(subject: str, data: bytes) -> bytes:
                return bytes((await nc.request(subject, data, timeout=10)).data)

            @fuzz_settings(NATS_EXAMPLES)
            @given(case=nats_case())
            def one(case: tuple[str, Any]) -> None:
                command, body = case
                user = f"fzn{next(users)}"
                tokens = {ADMIN: mint(svc, user, "admin"), VIEWER: mint(svc, user, "viewer")}
                if isinstance(body, bytes):
                    data = body.replace(ADMIN.encode(), tokens[ADMIN].encode())
                else:
                    if isinstance(body, dict):
                        body = {
                            k: tokens.get(v, v) if isinstance(v, str) else v
                            for k, v in body.items()
                        }
                    data = json.dumps(body, allow_nan=True).encode()
                subject = f"wq.cmd.lobby.{command}"
                tally.cases += 1
                tally.per_target[command] += 1
                if len(data) > nc.max_payload:  # no client can send it: the server's limit
                    tally.codes["over_max_payload"] += 1
                    return
                try:
                    raw = asyncio.run_coroutine_threadsafe(ask(subject, data), loop).result(30)
                except Exception as exc:  # no reply at all
                    tally.problem(f"no reply to {command} {data[:200]!r}: {exc!r}")
                    return
                reply = json.loads(raw)
                if reply.get("ok") is True:
                    tally.codes["ok"] += 1
                    return
                code = structured(reply)
                if reply.get("ok") is not False or code is None:
                    tally.problem(f"unstructured reply to {command} {data[:200]!r}: {raw[:300]!r}")
                    return
                tally.codes[code] += 1
                tally.refused_users.add(user)
                if code == "internal_error":
                    tally.problem(f"internal_error for {command} {data[:200]!r}")

            await asyncio.to_thread(one)
        finally:
            await nc.close()
        actors = await actors_in_log(svc)
    appended_by_refused = {a: n for a, n in actors.items() if a in tally.refused_users}
    took = time.monotonic() - started
    print(
        f"\nNATS fuzz: {tally.cases} cases in {took:.1f}s; "
        f"replies {dict(tally.codes.most_common())}"
    )
    assert not tally.problems, "\n".join(tally.problems)
    assert not appended_by_refused, f"refused commands appended commits: {appended_by_refused}"
    assert tally.codes["ok"] > 0 and tally.codes["invalid_request"] > 0
    assert sum(tally.codes.values()) >= NATS_EXAMPLES, "every case has its reply"
    # Every command the service answers was fuzzed (a new one not listed here would not be).
    assert set(COMMANDS) == set(SERVED_COMMANDS), set(SERVED_COMMANDS) ^ set(COMMANDS)
    assert all(tally.per_target[c] > 0 for c in COMMANDS), tally.per_target
