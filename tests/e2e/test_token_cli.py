"""`webqueue token issue` as an operator runs it: the token alone on stdout's last line."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.identity.tokens import MAX_TTL_SEC, TokenSigner, load_secret
from application.identity.roles import Identity, Unauthenticated
from entrypoints.cli.token import add_token_parser, parse_duration, run_token


def parser() -> argparse.ArgumentParser:
    """A stand-in for `webqueue`'s own parser, with `token` added as the lead adds it."""
    root = argparse.ArgumentParser(prog="webqueue")
    add_token_parser(root.add_subparsers(dest="command", required=True))
    return root


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = run_token(parser().parse_args(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(autouse=True)
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBQUEUE_SECRET", raising=False)


def test_issue_prints_a_token_the_service_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    before = datetime.now(UTC)
    status, out, err = run(
        ["token", "issue", "alice", "--role", "admin", "--ttl", "12h", "--data-dir", str(data_dir)],
        capsys,
    )
    assert status == 0, err
    token = out.splitlines()[-1]
    assert token == token.strip() and " " not in token
    identity = TokenSigner(load_secret(data_dir, {})).verify(token, now=datetime.now(UTC))
    assert identity == Identity("alice", "admin")
    assert "'alice'" in err and "admin" in err and "(in 12h)" in err
    after = datetime.now(UTC)
    signer = TokenSigner(load_secret(data_dir, {}))
    assert signer.verify(token, now=before + timedelta(hours=12) - timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token, now=after + timedelta(hours=12))


def test_default_ttl_is_30_days_and_the_secret_is_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    tokens = []
    for user in ["bob", "carol"]:
        status, out, err = run(
            ["token", "issue", user, "--role", "viewer", "--data-dir", str(data_dir)], capsys
        )
        assert status == 0, err
        assert "(in 30d)" in err
        tokens.append(out.splitlines()[-1])
    signer = TokenSigner(load_secret(data_dir, {}))
    in_29_days = datetime.now(UTC) + timedelta(days=29)
    assert [signer.verify(t, now=in_29_days).user for t in tokens] == ["bob", "carol"]


def test_env_secret_is_used_when_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "an operator's secret of at least 32 chars"
    monkeypatch.setenv("WEBQUEUE_SECRET", secret)
    status, out, _ = run(
        ["token", "issue", "dee", "--role", "blessed", "--data-dir", str(tmp_path)], capsys
    )
    assert status == 0
    assert (
        TokenSigner(secret.encode()).verify(out.splitlines()[-1], now=datetime.now(UTC)).user
        == "dee"
    )
    assert not (tmp_path / "secret.key").exists()


def test_short_env_secret_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBQUEUE_SECRET", "too short")
    status, out, err = run(
        ["token", "issue", "dee", "--role", "blessed", "--data-dir", str(tmp_path)], capsys
    )
    assert status == 1
    assert out == ""
    assert "WEBQUEUE_SECRET must be at least 32 characters" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "issue", "alice", "--role", "owner"],
        ["token", "issue", "alice"],
        ["token", "issue", "alice", "--role", "admin", "--ttl", "0"],
        ["token", "issue", "alice", "--role", "admin", "--ttl", "366d"],
        ["token", "issue", "alice", "--role", "admin", "--ttl", "1y"],
        ["token", "issue", "alice", "--role", "admin", "--ttl", "-5"],
        ["token", "issue", "alice", "--role", "admin", "--ttl", "soon"],
        ["token", "issue", "", "--role", "admin"],
        ["token", "issue", "x" * 101, "--role", "admin"],
        ["token"],
    ],
)
def test_bad_arguments_are_argparse_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("90s", 90),
        ("30m", 1800),
        ("12h", 43200),
        ("7d", 604800),
        ("2w", 1209600),
        ("365d", MAX_TTL_SEC),
        ("7D", 604800),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
