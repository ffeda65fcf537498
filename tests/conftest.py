"""Fixtures shared by the whole suite."""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, NoReturn

import pytest

from adapters.nats.embedded_server import EmbeddedNatsServer


def in_ci() -> bool:
    """CI sets CI=true (.ci/run makes sure): there, every real peer the suite knows how to
    use must be there."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """A real peer or tool a test needs is not here: skip, saying why; in CI, fail instead,
    so a green CI run never hides a test that did not run."""
    if in_ci():
        pytest.fail(f"CI=true and this test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded JetStream server for the session, so tests need no external broker.

    Tests share it, so each must use its own stream and subject names. It is an open server
    (no users), so a service run on it needs `allow_open_nats=True`; the service's own
    embedded server, which the e2e tests use, runs with users and permissions.
    """
    with EmbeddedNatsServer(tmp_path_factory.mktemp("nats-session"), auth=False) as server:
        yield server.url


@pytest.fixture(scope="session")
def nats_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A three-node JetStream cluster on loopback (tests.nats_cluster), started only by the
    tests that ask for it; its URL names every node, as `--nats-url` takes a cluster."""
    from tests.nats_cluster import NatsCluster

    with NatsCluster(tmp_path_factory.mktemp("nats-cluster")) as cluster:
        yield cluster.url


POSTGRES_URL = os.environ.get(
    "WEBQUEUE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def _postgres() -> Any:
    """A connection to the PostgreSQL at WEBQUEUE_TEST_POSTGRES_URL; skips when absent."""
    try:
        import asyncpg
    except ImportError:
        missing("asyncpg is not installed (pip install 'webqueue[postgres]')")
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        return await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        missing(f"no PostgreSQL at {POSTGRES_URL} ({exc}); set WEBQUEUE_TEST_POSTGRES_URL")


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A throw-away schema on the PostgreSQL at WEBQUEUE_TEST_POSTGRES_URL; skips when absent."""
    conn = await _postgres()
    schema = f"wq_test_{uuid.uuid4().hex[:10]}"
    await conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """The URL of a throw-away database on the PostgreSQL at WEBQUEUE_TEST_POSTGRES_URL, for
    services run as subprocesses (which take a plain `--db` URL, no search path); skips when
    absent."""
    conn = await _postgres()
    name = f"wq_test_{uuid.uuid4().hex[:10]}"
    await conn.execute(f"CREATE DATABASE {name}")
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()
