"""The faults group runs on private servers (tests/faults/servers.py), started once for the module, so that it can
stop, flush and restart them for real; the shared servers are never touched."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from hub.db.migrate import upgrade
from hub.settings import Settings
from tests.conftest import app_database_url
from tests.faults.servers import PrivateServers


@pytest.fixture(scope="module")
def private_servers() -> Iterator[PrivateServers]:
    servers = PrivateServers()
    try:
        servers.start()
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="module")
def database_url(private_servers: PrivateServers) -> str:
    private_servers.postgres.psql("CREATE DATABASE hub_faults")
    url = private_servers.postgres.admin_url.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    url += "/hub_faults"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def amqp_vhost() -> str:
    return "/"


@pytest.fixture(scope="module")
def amqp_url(private_servers: PrivateServers) -> str:
    return private_servers.rabbit.url()


@pytest.fixture
def redis_prefix() -> str:
    return f"hubfaults:{uuid.uuid4().hex[:8]}:"  # a private server: it is flushed whole, nothing to clean


@pytest.fixture
def settings(
    database_url: str, amqp_url: str, redis_prefix: str, private_servers: PrivateServers
) -> Settings:
    return Settings(
        database_url=app_database_url(database_url),
        migrate_database_url=database_url,
        redis_url=private_servers.redis.url,
        amqp_url=amqp_url,
        redis_prefix=redis_prefix,
        intake_batch_wait_ms=2,
        open311_posts_per_minute=100_000,
        sign_in_attempts_per_minute=100_000,
        reservation_timeout_seconds=5,
    )
