"""The config file: every key optional, the bad one named with its value, nothing else."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from adapters.nats.credentials import CredentialsError, reject_url_credentials
from adapters.nats.servers import server_urls
from entrypoints.config.loader import ConfigError, load, mask_url, unstructure
from entrypoints.config.settings import Settings
from entrypoints.config.show import render


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "webqueue.toml"
    path.write_text(text)
    return path


def test_no_file_is_the_defaults() -> None:
    assert load(None, env={}) == Settings()


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load(toml(tmp_path, ""), env={}) == Settings()


def test_every_section_reads_its_keys(tmp_path: Path) -> None:
    settings = load(
        toml(
            tmp_path,
            """
channel = "movie night"
port = 8093
[presence_refund]
grace_seconds = 90
on_afk = true
afk_grace_seconds = 900
[pay_flow]
add_delay_sec = 0.5
add_retries = 2
[ledger]
tiers = [[900, 300], [2100, 600]]
longer = 1200
[lock]
default_minutes = 15
[kryten]
robot_subject = "kryten.robot.command"
robot_timeout_sec = 12
[promos.general]
every_n_items = 5
[promos.types.event]
weight = 4
""",
        ),
        env={},
    )
    assert (settings.channel, settings.port) == ("movie night", 8093)
    p = settings.presence_refund
    assert (p.grace_seconds, p.on_afk, p.afk_grace_seconds, p.on_leave) == (90, True, 900, True)
    assert (settings.pay_flow.add_delay_sec, settings.pay_flow.add_retries) == (0.5, 2)
    assert settings.ledger.cost_for(1000) == 600 and settings.ledger.cost_for(99999) == 1200
    assert settings.lock.default_minutes == 15
    assert settings.kryten.robot_timeout_sec == 12.0
    assert settings.promos.general.every_n_items == 5
    # A type given in part keeps its other settings, and the types left out keep theirs.
    assert settings.promos.types["event"].weight == 4 and settings.promos.types["event"].enabled
    assert settings.promos.types["channel_identity"].weight == 3


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("port = 70000", "port", "1 to 65535"),
        ("[presence_refund]\ngrace_seconds = -5", "presence_refund.grace_seconds", "zero or more"),
        ("[pay_flow]\nadd_delay = 1", "pay_flow.add_delay", "unknown key"),
        ('cytube = "robot"', "cytube", "one of"),
        ('[kryten]\nrobot_subject = "a b"', "kryten.robot_subject", "NATS subject"),
        ("[ledger]\ntiers = [[900, 300], [100, 50]]", "ledger.tiers", "increasing"),
        ("sim_speed = 0", "sim_speed", "more than zero"),
        ("[intake]\nmax_lag = 1.5", "intake.max_lag", "whole number"),
        ('log_level = "loud"', "log_level", "one of"),
        ("[promos.general]\nevery_n_items = 0", "promos.general.every_n_items", "1 to 1000"),
        ("[presence_refund]\non_afk = 1", "presence_refund.on_afk", "true or false"),
        ("presence_refund = 3", "presence_refund", "table"),
        (
            '[catalog]\nmanifest_template = "ftp://m/{video_id}.json"',
            "catalog.manifest_template",
            "http(s) URL",
        ),
    ],
)
def test_a_bad_setting_is_named_with_its_value(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    path = toml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    assert info.value.key == key
    assert words in info.value.reason
    assert str(path) in str(info.value)


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(toml(tmp_path, "port = = 1"), env={})
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.toml", env={})


def test_a_manifest_template_may_start_with_the_mediacms_url(tmp_path: Path) -> None:
    text = '[catalog]\nmanifest_template = "{base}/api/v1/media/cytube/{video_id}.json"'
    settings = load(toml(tmp_path, text), env={})
    assert settings.catalog.manifest_template.startswith("{base}/")


def test_environment_beats_the_file_and_flags_beat_both(tmp_path: Path) -> None:
    path = toml(tmp_path, 'nats_url = "nats://file:4222"\nport = 8081\n')
    env = {"WEBQUEUE_NATS_URL": "nats://env:4222", "WEBQUEUE_DB_URL": "sqlite+aiosqlite:///x"}
    settings = load(path, env=env, flags={"port": 8082})
    assert settings.nats_url == "nats://env:4222" and settings.db_url == "sqlite+aiosqlite:///x"
    assert settings.port == 8082
    assert settings.cytube == "kryten" and settings.economy == "kryten"  # a NATS URL says so
    assert load(None, env={"WEBQUEUE_CONFIG": str(path)}).port == 8081


def test_the_mode_set_in_the_file_stands_even_with_a_nats_url(tmp_path: Path) -> None:
    settings = load(toml(tmp_path, 'cytube = "sim"\n'), env={"WEBQUEUE_NATS_URL": "nats://x"})
    assert (settings.cytube, settings.economy) == ("sim", "kryten")


def test_show_masks_passwords_and_is_itself_a_valid_config(tmp_path: Path) -> None:
    env = {
        "WEBQUEUE_NATS_URL": "nats://robot:hunter2@nats.example:4222",
        "WEBQUEUE_DB_URL": "postgresql+asyncpg://wq:s3cret@db/wq",
        "WEBQUEUE_SECRET": "x" * 40,
    }
    settings = load(None, env=env)
    text = render(settings, path=None, env=env)
    assert "hunter2" not in text and "s3cret" not in text and "x" * 40 not in text
    assert "nats://robot:********@nats.example:4222" in text
    shown = tomllib.loads(text)
    assert shown["presence_refund"]["afk_grace_seconds"] == 600
    assert load(toml(tmp_path, text.replace("********", "pw")), env={}).port == settings.port


def test_a_url_without_a_password_is_shown_as_it_is() -> None:
    assert mask_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert mask_url("nats://s3cr3tt0ken@host") == "nats://********@host"  # token auth
    assert unstructure(Settings())["port"] == 8080


def test_each_seed_of_a_cluster_url_is_masked() -> None:
    seeds = "nats://wq:pw1@n1:4222,nats://wq:pw2@n2:4222,nats://n3:4222"
    assert mask_url(seeds) == "nats://wq:********@n1:4222,nats://wq:********@n2:4222,nats://n3:4222"


def test_a_cluster_is_its_servers_and_a_replica_count(tmp_path: Path) -> None:
    path = toml(tmp_path, 'nats_url = "nats://a:4222, nats://b:4222,nats://c:4222"\nreplicas = 3\n')
    settings = load(path, env={})
    assert settings.replicas == 3
    assert server_urls(settings.nats_url or "") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]
    with pytest.raises(ConfigError) as info:
        load(toml(tmp_path, "replicas = 7\n"), env={})
    assert info.value.key == "replicas" and "1 to 5" in info.value.reason


def test_credentials_in_any_of_a_clusters_urls_are_refused() -> None:
    with pytest.raises(CredentialsError):
        reject_url_credentials("nats://a:4222,nats://me:secret@b:4222")
    reject_url_credentials("nats://a:4222,nats://b:4222")  # none: fine


def test_the_lease_ttl_and_an_instance_that_takes_no_lease(tmp_path: Path) -> None:
    from entrypoints.cli.main import _settings, build_parser

    assert Settings().lease_ttl == 10.0 and Settings().take_leases
    settings = load(toml(tmp_path, "lease_ttl = 4.5\ntake_leases = false\n"), env={})
    assert settings.lease_ttl == 4.5 and not settings.take_leases
    with pytest.raises(ConfigError) as info:
        load(toml(tmp_path, "lease_ttl = 0.2\n"), env={})
    assert info.value.key == "lease_ttl" and "1 to 300" in info.value.reason
    args = build_parser().parse_args(
        ["serve", "--data-dir", str(tmp_path), "--lease-ttl", "3", "--no-leases"]
    )
    from_flags = _settings(args)
    assert from_flags.lease_ttl == 3.0 and not from_flags.take_leases
    plain = _settings(build_parser().parse_args(["serve", "--data-dir", str(tmp_path)]))
    assert plain.take_leases and plain.lease_ttl == 10.0
