"""Test wiring: the real PostgreSQL, Redis and RabbitMQ of this machine, isolated per run and per test.

- PostgreSQL: a fresh database per test run, migrated with Alembic, dropped at the end.
- RabbitMQ: a fresh vhost per test run (so `hub.intake` and friends are ours alone).
- Redis: a key prefix per test.
- Data: every test makes partners with unique slugs, so tests never see each other's rows.
A service that cannot be reached fails the run with its name; nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_sync

from hub.api.app import create_app
from hub.migrate import upgrade
from hub.runtime import Hub
from hub.worker import Worker
from plumbing.db.scope import ALL_PARTNERS, set_scope
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from routing.models import Enquiry
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.schemas import PartnerDefinition
from tenants.service import apply_definitions

PG_ADMIN_URL = os.environ.get("HUB_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HUB_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_HOST = os.environ.get("HUB_TEST_AMQP_HOST", "127.0.0.1")

RUN_ID = uuid.uuid4().hex[:8]
APP_ROLE = os.environ.get("HUB_APP_ROLE", "hub_app")

# Test set-up code (fixtures making partners, checks reading rows) is trusted hub-wide code, like the CLI.
set_scope(ALL_PARTNERS)


def _reachable(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) == 0


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = [
        name
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379), ("RabbitMQ", 5672))
        if not _reachable("127.0.0.1", port)
    ]
    if missing:
        raise pytest.UsageError(
            f"{', '.join(missing)} not reachable on 127.0.0.1; the tests need the real services "
            "(scripts/test starts them when it can)"
        )


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"hub_test_{RUN_ID}"
    _psql(f"CREATE DATABASE {name}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url.replace("postgresql://", "postgresql+asyncpg://"))
    yield url.replace("postgresql://", "postgresql+asyncpg://")
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", PG_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True
    )


@pytest.fixture(scope="session")
def amqp_vhost() -> Iterator[str]:
    vhost = f"hub_test_{RUN_ID}"
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        raise pytest.UsageError("rabbitmqctl not found: the tests make a RabbitMQ vhost of their own with it")
    subprocess.run([ctl, "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        [ctl, "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    yield vhost
    subprocess.run([ctl, "-q", "delete_vhost", vhost], check=False, capture_output=True)


@pytest.fixture(scope="session")
def amqp_url(amqp_vhost: str) -> str:
    return f"amqp://guest:guest@{AMQP_HOST}:5672/{amqp_vhost}"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"hubtest:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis_sync.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def app_database_url(database_url: str) -> str:
    """The same database as the application role (owns nothing, no BYPASSRLS): what the hub connects as."""
    scheme, rest = database_url.split("://", 1)
    return f"{scheme}://{APP_ROLE}@{rest.split('@', 1)[1]}"


@pytest.fixture
def settings(database_url: str, amqp_url: str, redis_prefix: str) -> Settings:
    return Settings(
        database_url=app_database_url(database_url),
        migrate_database_url=database_url,
        redis_url=REDIS_URL,
        amqp_url=amqp_url,
        redis_prefix=redis_prefix,
        intake_batch_wait_ms=2,
        # Tests post far more than a person would: the public limits have their own test (tests/hub/security).
        open311_posts_per_minute=100_000,
        sign_in_attempts_per_minute=100_000,
        reservation_timeout_seconds=20,
    )


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    running = await Hub.start(settings, migrate=False)
    await running.live.reset()
    yield running
    await running.close()


@pytest.fixture
async def api(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """The hub's HTTP app on the test's hub, in process (a dotted host, so cookies set for it are kept)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub.test"
    ) as client:
        yield client


@pytest.fixture
async def worker(hub: Hub) -> AsyncIterator[Worker]:
    """An in-process worker on the test's event loop; stopped at the end of the test."""
    work = Worker(hub)
    task = asyncio.create_task(work.run())
    yield work
    work.stop.set()
    await asyncio.wait_for(task, timeout=15)


@dataclass(frozen=True)
class Partner:
    slug: str
    agents: list[str]
    service: str = "missed-bin"


def unique_slug(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:8]}"


def partner_definition(slug: str, agents: list[str], *, kind: str = "partner") -> PartnerDefinition:
    return PartnerDefinition.model_validate(
        {
            "tenant": {"slug": slug, "name": f"Test partner {slug}", "kind": kind},
            # Open round the clock, so that no test depends on the time of day it runs at.
            "opening_hours": {"default": "always"},
            "services": [
                {
                    "code": "general",
                    "name": "General enquiries",
                    "group": "Council",
                    "skills": ["general"],
                    "priority": 3,
                },
                {
                    "code": "missed-bin",
                    "name": "Missed bin",
                    "group": "Waste and recycling",
                    "lgsl": 524,
                    "skills": ["waste"],
                    "priority": 5,
                },
                {
                    "code": "council-tax",
                    "name": "Council tax",
                    "group": "Revenues and benefits",
                    "lgsl": 58,
                    "skills": ["revenues"],
                    "priority": 7,
                    "service_level": {"answer_within_seconds": 30, "target": 0.8},
                    "required_fields": ["account_number"],
                },
            ],
            "agents": [
                {"id": a, "name": a.title(), "skills": ["general", "waste", "revenues"]} for a in agents
            ],
        }
    )


@pytest.fixture
def make_partner(hub: Hub):  # type: ignore[no-untyped-def]
    """Create a partner with a unique slug, three services and ``agents`` agents (all skills)."""

    async def make(base: str = "chorley", agents: int = 1) -> Partner:
        slug = unique_slug(base)
        agent_ids = [f"{slug}-agent{i}" for i in range(agents)]
        async with unit_of_work(hub.sessionmaker) as session:
            await apply_definitions(session, definitions=[partner_definition(slug, agent_ids)])
        await hub.catalogue.reload()
        return Partner(slug, agent_ids)

    return make


async def eventually(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Await until ``predicate()`` (sync or async) returns something truthy, and return it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        await asyncio.sleep(interval)


async def store_agreement(hub: Hub, **agreement: Any) -> None:
    """One agreement (the schema of tenants/agreements/terms.py) checked and stored, as an operator's change is."""
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(session, agreements=[AgreementDefinition.model_validate(agreement)])


def enquiry_row(
    tenant: str, service_id: int | None, service_code: str, queued: datetime, message_id: str, **columns: Any
) -> Enquiry:
    """An enquiry's row as intake writes one, a phone call queued at ``queued``; ``columns`` set any other."""
    return Enquiry(
        **{
            "reference": f"T-{tenant}-{message_id}",
            "tenant_slug": tenant,
            "message_id": message_id,
            "channel": "phone",
            "service_id": service_id,
            "service_code": service_code,
            "priority": 5,
            "received_at": queued,
            "created_at": queued,
            "queued_at": queued,
            "state": "queued",
            **columns,
        }
    )


def _hub_children() -> dict[int, str]:
    """This test process's live child processes running a ``hub`` command (pid -> command line)."""
    me = os.getpid()
    found: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            command = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        # "pid (name) state ppid ...": the name may hold spaces and parentheses, so read after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z" and _HUB_COMMAND.search(command):
            found[int(entry.name)] = command.strip()
    return found


_HUB_COMMAND = re.compile(r"(/hub|hub\.cli) (worker|serve|adapters)\b")


# The names ``Worker.run`` gives its tasks.
_WORKER_TASKS = frozenset({"housekeeping", "amqp", "relay", "heartbeat"})


def _worker_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t.get_name() in _WORKER_TASKS and not t.done()}


@pytest.fixture(autouse=True)
async def no_hub_left_running(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail the test that leaves a worker running (and stop it), rather than the tests it would disturb.

    Every test shares the run's database; a worker's housekeeping sweeps it with the real clock for offers the
    live state lost (``recover_lost_offers``), and scenario tests make offers on a clock of their own in the
    past, so a worker left running by one test would requeue another's offers (a callback test failing with
    ``stale_offer`` under load looked like that). Tests that run a worker must stop it; this says which did not.
    """
    # Workers of wider-scoped fixtures (started before this test) are theirs to stop.
    before = set(_hub_children())
    tasks_before = _worker_tasks()
    yield
    leaked = _worker_tasks() - tasks_before
    for task in leaked:
        task.cancel()
    processes = {pid: command for pid, command in _hub_children().items() if pid not in before}
    for pid in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if leaked or processes:
        pytest.fail(
            f"{request.node.nodeid} left a worker running (now stopped): "
            f"in-process tasks {sorted(t.get_name() for t in leaked)}, processes {sorted(processes.values())}",
            pytrace=False,
        )


__all__ = ["Partner", "eventually"]
