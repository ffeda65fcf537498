"""Signed bearer tokens and their secret: what verifies, what does not, and why."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.identity import tokens
from adapters.identity.tokens import (
    DEFAULT_TTL_SEC,
    MAX_TOKEN_CHARS,
    MAX_TTL_SEC,
    TokenSigner,
    load_secret,
)
from application.identity.roles import Identity, Unauthenticated

SECRET = b"s" * 32
NOW = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(payload: bytes, secret: bytes = SECRET) -> str:
    """A token whose signature is right for whatever payload bytes it carries."""
    body = b64(payload)
    return body + "." + b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def claims(**changes: object) -> bytes:
    base: dict[str, object] = {
        "sub": "alice",
        "role": "viewer",
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
        "v": 1,
    }
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def rejected(signer: TokenSigner, token: str, now: datetime = NOW) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as raised:
        signer.verify(token, now=now)
    return raised.value


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET)


# --- round trip and format ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "blessed", "admin"])
def test_round_trip(signer: TokenSigner, role: str) -> None:
    token, expires_at = signer.issue("alice", role, ttl_sec=3600, now=NOW)  # type: ignore[arg-type]
    assert expires_at == NOW + timedelta(hours=1)
    assert signer.verify(token, now=NOW) == Identity("alice", role)  # type: ignore[arg-type]


def test_token_is_two_unpadded_base64url_parts_with_the_documented_payload(
    signer: TokenSigner,
) -> None:
    token, _ = signer.issue("alice", "blessed", ttl_sec=60, now=NOW)
    body, signature = token.split(".")
    assert "=" not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    iat = int(NOW.timestamp())
    payload = json.loads(unb64(body))
    jti = payload.pop("jti")
    assert re.fullmatch(r"[0-9a-f]{16}", jti)  # an id to revoke this one token by
    assert payload == {
        "sub": "alice",
        "role": "blessed",
        "iat": iat,
        "exp": iat + 60,
        "v": 1,
    }
    assert unb64(signature) == hmac.new(SECRET, body.encode(), hashlib.sha256).digest()


def test_default_ttl_is_30_days_and_max_is_365(signer: TokenSigner) -> None:
    assert DEFAULT_TTL_SEC == 30 * 86400
    assert MAX_TTL_SEC == 365 * 86400
    _, expires_at = signer.issue("alice", "viewer", now=NOW)
    assert expires_at == NOW + timedelta(days=30)
    _, longest = signer.issue("alice", "viewer", ttl_sec=MAX_TTL_SEC, now=NOW)
    assert longest == NOW + timedelta(days=365)


def test_times_are_whole_seconds_and_any_timezone_works(signer: TokenSigner) -> None:
    later = NOW.replace(microsecond=999_999).astimezone(timezone(timedelta(hours=-5)))
    token, expires_at = signer.issue("alice", "viewer", ttl_sec=10, now=later)
    assert expires_at == NOW + timedelta(seconds=10)
    assert expires_at.tzinfo is not None
    assert signer.verify(token, now=NOW.astimezone(timezone(timedelta(hours=9)))).user == "alice"


def test_naive_now_is_a_programming_error(signer: TokenSigner) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signer.issue("alice", "viewer", now=datetime(2026, 1, 1))
    token, _ = signer.issue("alice", "viewer", now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        signer.verify(token, now=datetime(2026, 1, 1))


def test_the_longest_user_of_the_widest_characters_stays_under_the_size_limit(
    signer: TokenSigner,
) -> None:
    user = "\U0001d518" * 100  # 4 bytes each in UTF-8
    token, _ = signer.issue(user, "admin", ttl_sec=MAX_TTL_SEC, now=NOW)
    assert len(token) <= MAX_TOKEN_CHARS
    assert signer.verify(token, now=NOW) == Identity(user, "admin")


# --- tampering ------------------------------------------------------------------------------


def test_tampered_payload_is_refused(signer: TokenSigner) -> None:
    token, _ = signer.issue("alice", "viewer", ttl_sec=3600, now=NOW)
    body, signature = token.split(".")
    promoted = json.loads(unb64(body)) | {"role": "admin"}
    forged = b64(json.dumps(promoted).encode()) + "." + signature
    error = rejected(signer, forged)
    assert error.code == "invalid_token"
    assert "signature" in error.message


def test_tampered_signature_is_refused(signer: TokenSigner) -> None:
    token, _ = signer.issue("alice", "viewer", ttl_sec=3600, now=NOW)
    body, signature = token.split(".")
    flipped = bytearray(unb64(signature))
    flipped[0] ^= 1
    assert rejected(signer, body + "." + b64(bytes(flipped))).code == "invalid_token"
    assert rejected(signer, body + "." + signature[:-4]).code == "invalid_token"


def test_another_spelling_of_the_same_signature_bytes_is_refused(signer: TokenSigner) -> None:
    token, _ = signer.issue("alice", "viewer", ttl_sec=3600, now=NOW)
    body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 32 bytes take 43 characters: the last one carries 2 unused bits.
    last = alphabet.index(signature[-1])
    twin = signature[:-1] + alphabet[last ^ 1]
    assert unb64(twin) == unb64(signature)
    assert rejected(signer, body + "." + twin).code == "invalid_token"


def test_a_token_from_another_secret_is_refused(signer: TokenSigner) -> None:
    token, _ = TokenSigner(b"t" * 32).issue("alice", "admin", ttl_sec=3600, now=NOW)
    assert "signature" in rejected(signer, token).message


# --- expiry ---------------------------------------------------------------------------------


def test_expiry_boundary(signer: TokenSigner) -> None:
    token, expires_at = signer.issue("alice", "viewer", ttl_sec=60, now=NOW)
    assert signer.verify(token, now=expires_at - timedelta(microseconds=1)).user == "alice"
    at_expiry = rejected(signer, token, now=expires_at)
    assert at_expiry.code == "expired_token"
    assert "expired at 2026-11-20T20:01:00Z" in at_expiry.message
    assert rejected(signer, token, now=expires_at + timedelta(days=400)).code == "expired_token"


def test_expiry_is_checked_only_after_the_signature(signer: TokenSigner) -> None:
    token, expires_at = TokenSigner(b"t" * 32).issue("alice", "viewer", ttl_sec=60, now=NOW)
    assert rejected(signer, token, now=expires_at + timedelta(days=1)).code == "invalid_token"


# --- malformed strings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "abc",
        "abc.",
        ".abc",
        "a.b.c",
        "abc.def.",
        "@@@.###",
        "abc=.def=",
        "abcd.e",
        "a b.cd",
        " abc.def",
        "abc.def\n",
        "\x00.\x00",
        "ünï.cödé",
        "🔑.🔑",
        "\uff21\uff42\uff43.\uff44\uff45\uff46",  # fullwidth letters
        "abc\u200b.def",
    ],
)
def test_malformed_strings_are_invalid_tokens(signer: TokenSigner, token: str) -> None:
    assert rejected(signer, token).code == "invalid_token"


def test_huge_input_is_refused_before_decoding(signer: TokenSigner) -> None:
    good, _ = signer.issue("alice", "viewer", now=NOW)
    for token in ["a" * (MAX_TOKEN_CHARS + 1), good + "." + "A" * 10_000_000, "é" * 5_000]:
        error = rejected(signer, token)
        assert error.code == "invalid_token"
        assert "longer than 2048" in error.message


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"not json", "malformed"),
        (b"[1, 2]", "malformed"),
        (b"", "base64url"),
        (claims(role="owner"), "unknown role"),
        (claims(role=None), "malformed"),
        (claims(sub=""), "user"),
        (claims(sub="x" * 101), "user"),
        (claims(sub=" alice"), "user"),
        (claims(sub=7), "malformed"),
        (claims(v=2), "version 2"),
        (claims(v=...), "malformed"),
        (claims(exp=...), "malformed"),
        (claims(exp="soon"), "malformed"),
        (claims(exp=10**30), "malformed"),
        (claims(exp=int(NOW.timestamp()) + MAX_TTL_SEC + 1), "longer than 365 days"),
        (claims(iat=10**30, exp=10**30 + 1), "malformed"),
        (claims(exp=int(NOW.timestamp()) - 10), "expires before it was issued"),
        (b'{"sub": "alice", "role": "viewer", "iat": 1, "exp": 2, "v": 1', "malformed"),
        ("\udcff".encode("utf-8", "surrogatepass"), "malformed"),
    ],
)
def test_signed_but_unusable_payloads_are_invalid(
    signer: TokenSigner, payload: bytes, says: str
) -> None:
    error = rejected(signer, forge(payload))
    assert error.code == "invalid_token"
    assert says in error.message


def test_unknown_payload_fields_from_a_signer_are_ignored(signer: TokenSigner) -> None:
    assert signer.verify(forge(claims(jti="x")), now=NOW) == Identity("alice", "viewer")


# --- issuing --------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["", "x" * 101, " alice", "al\nice"])
def test_issue_refuses_unusable_users(signer: TokenSigner, user: str) -> None:
    with pytest.raises(ValueError, match="user name"):
        signer.issue(user, "viewer", now=NOW)


def test_issue_refuses_unknown_roles_and_bad_ttls(signer: TokenSigner) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        signer.issue("alice", "root", now=NOW)  # type: ignore[arg-type]
    for ttl in [0, -1, MAX_TTL_SEC + 1]:
        with pytest.raises(ValueError, match="ttl_sec"):
            signer.issue("alice", "viewer", ttl_sec=ttl, now=NOW)
    with pytest.raises(TypeError):
        signer.issue("alice", "viewer", ttl_sec=True, now=NOW)
    with pytest.raises(TypeError):
        signer.issue("alice", "viewer", ttl_sec=1.5, now=NOW)  # type: ignore[arg-type]


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenSigner(b"short")


# --- the secret -----------------------------------------------------------------------------


def test_secret_file_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    first = load_secret(data_dir, {})
    path = data_dir / "secret.key"
    assert len(first) == 32
    assert path.read_text().strip() == first.hex()
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(data_dir, {}) == first
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret.key"], "no temporary left"
    token, _ = TokenSigner(first).issue("alice", "admin", now=NOW)
    assert TokenSigner(load_secret(data_dir, {})).verify(token, now=NOW).role == "admin"


def test_secret_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("file modes are POSIX")
    old = os.umask(0)
    try:
        load_secret(tmp_path, {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_each_data_dir_gets_its_own_secret(tmp_path: Path) -> None:
    assert load_secret(tmp_path / "a", {}) != load_secret(tmp_path / "b", {})


def test_secret_file_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*_: object) -> None:
        raise PermissionError("this file system has no hard links")

    monkeypatch.setattr(os, "link", no_links)
    first = load_secret(tmp_path, {})
    assert load_secret(tmp_path, {}) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key"]
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_a_damaged_secret_file_is_reported_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("not hex\n")
    with pytest.raises(ValueError, match=r"secret\.key is not a token secret"):
        load_secret(tmp_path, {})
    assert (tmp_path / "secret.key").read_text() == "not hex\n"


def test_a_secret_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if os.name != "posix":
        pytest.skip("file modes are POSIX")
    load_secret(tmp_path, {})
    (tmp_path / "secret.key").chmod(0o644)
    load_secret(tmp_path, {})
    assert "readable by others" in caplog.text


def test_env_secret_wins_and_touches_no_file(tmp_path: Path) -> None:
    value = "correct horse battery staple, long enough"
    assert load_secret(tmp_path / "data", {"WEBQUEUE_SECRET": value}) == value.encode()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("value", ["", "x" * 31])
def test_short_env_secret_is_a_clear_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match=r"WEBQUEUE_SECRET must be at least 32 characters"):
        load_secret(tmp_path, {"WEBQUEUE_SECRET": value})
    assert not (tmp_path / "secret.key").exists()


RACER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from adapters.identity.tokens import load_secret
    base, me, racers, dirs = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    for i in range(dirs):
        line = base / f"line-{i}"
        (line / me).touch()
        deadline = time.monotonic() + 30
        while len(os.listdir(line)) < racers and time.monotonic() < deadline:
            pass  # spin, so the racers leave each line within microseconds of each other
        print(load_secret(base / f"data-{i}", {}).hex(), flush=True)
    """
)
RACERS = 6
DIRS = 25


def test_processes_racing_to_create_the_secret_agree(tmp_path: Path) -> None:
    """The racers meet at a starting line before each fresh data dir, so each is a new race."""
    for i in range(DIRS):
        (tmp_path / f"line-{i}").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "WEBQUEUE_SECRET"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path), f"r{n}", str(RACERS), str(DIRS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for n in range(RACERS)
    ]
    try:
        outputs = [racer.communicate(timeout=120) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    assert all(racer.returncode == 0 for racer in racers), [err.decode() for _, err in outputs]
    seen = [out.decode().split() for out, _ in outputs]
    for i in range(DIRS):
        data_dir = tmp_path / f"data-{i}"
        assert {lines[i] for lines in seen} == {(data_dir / "secret.key").read_text().strip()}
        assert sorted(p.name for p in data_dir.iterdir()) == ["secret.key"]


def test_a_late_creator_never_replaces_the_secret(tmp_path: Path) -> None:
    """The loser of a race saw no file, then finds one when it writes: the winner's stays."""
    first = load_secret(tmp_path, {})
    tokens._create_secret_file(tmp_path / "secret.key")
    assert load_secret(tmp_path, {}) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key"]


def test_a_rotated_secret_still_verifies_what_it_signed_and_signs_nothing_new() -> None:
    old = TokenSigner(SECRET)
    token, _ = old.issue("alice", "viewer", ttl_sec=60, now=NOW)
    rotated = TokenSigner(b"n" * 32, previous=[SECRET])
    assert rotated.verify(token, now=NOW) == Identity("alice", "viewer")
    fresh, _ = rotated.issue("alice", "viewer", ttl_sec=60, now=NOW)
    with pytest.raises(Unauthenticated):
        old.verify(fresh, now=NOW)
    with pytest.raises(Unauthenticated):  # once the old secret is dropped, its tokens end
        TokenSigner(b"n" * 32).verify(token, now=NOW)


def test_each_token_has_its_own_id() -> None:
    signer = TokenSigner(SECRET)
    a, _ = signer.issue("alice", "viewer", ttl_sec=60, now=NOW)
    b, _ = signer.issue("alice", "viewer", ttl_sec=60, now=NOW)
    assert signer.claims(a, now=NOW).token_id != signer.claims(b, now=NOW).token_id


def test_rotating_the_secret_file_keeps_what_the_old_one_signed(tmp_path: Path) -> None:
    first = load_secret(tmp_path, {})
    token, _ = TokenSigner(first).issue("alice", "viewer", ttl_sec=60, now=NOW)
    tokens.rotate_secret(tmp_path)
    second = load_secret(tmp_path, {})
    previous = tokens.load_previous_secrets(tmp_path, {})
    assert second != first and previous == [first]
    assert stat.S_IMODE((tmp_path / "secret.previous").stat().st_mode) == 0o600
    assert TokenSigner(second, previous=previous).verify(token, now=NOW).user == "alice"
    tokens.rotate_secret(tmp_path)
    tokens.rotate_secret(tmp_path)
    assert len(tokens.load_previous_secrets(tmp_path, {})) == tokens.KEEP_PREVIOUS
    env = {"WEBQUEUE_SECRET_PREVIOUS": "x" * 32 + ", " + "y" * 32}
    assert tokens.load_previous_secrets(tmp_path, env) == [b"x" * 32, b"y" * 32]
