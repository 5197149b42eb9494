"""The faults group runs on private servers (tests/faults/servers.py), started once for the module, so that it can
stop, flush and restart them for real; the shared servers are never touched."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from hub.migrate import upgrade
from plumbing.settings import Settings
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
def settings(settings: Settings, private_servers: PrivateServers) -> Settings:
    """The suite's settings, on the private Redis and with offers that time out after 5 s."""
    return settings.model_copy(
        update={"redis_url": private_servers.redis.url, "reservation_timeout_seconds": 5}
    )
