"""Fixtures shared by the whole suite."""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.nats.embedded_server import EmbeddedNatsServer


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded JetStream server for the session, so tests need no external broker.

    Tests share it, so each must use its own stream and subject names.
    """
    with EmbeddedNatsServer(tmp_path_factory.mktemp("nats-session")) as server:
        yield server.url


POSTGRES_URL = os.environ.get(
    "WEBQUEUE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A throw-away schema on the PostgreSQL at WEBQUEUE_TEST_POSTGRES_URL; skips when absent."""
    try:
        import asyncpg
    except ImportError:
        pytest.skip("asyncpg is not installed (pip install 'webqueue[postgres]')")
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} ({exc}); set WEBQUEUE_TEST_POSTGRES_URL")
    schema = f"wq_test_{uuid.uuid4().hex[:10]}"
    await conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
