"""Scale-out on one machine: 3 `hub worker` and 2 `hub serve` processes on the same PostgreSQL, Redis and
RabbitMQ vhost, under load, with simulated agents working through both APIs.

Shows: no loss (every message_id published is exactly one enquiry), no duplicate enquiry, no enquiry offered to
two agents at once (from `enquiry_events`), and more enquiries queued per second with 3 workers than with 1
(both measured here, the same way: workers consuming, then a burst published with streamed confirms).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from sqlalchemy import text

from bench._services import free_port
from bench.scale_out import (
    AgentStats,
    Processes,
    publish_burst,
    publish_steady,
    queue_depth,
    wait_for_consumers,
    wait_until_ready,
    work_as_agent,
)
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from tenants.tokens import create_token
from tests.conftest import AMQP_HOST, RUN_ID
from tests.helpers_amqp import enquiry

AGENTS = 12
BURST = 1500  # enquiries per throughput measurement
STEADY_RATE = 25.0  # enquiries a second while the agents work
AGENT_SECONDS = float(os.environ.get("HUB_TEST_SCALE_AGENT_SECONDS", "15"))
RESERVATION_TIMEOUT = 3.0


# -- fixtures (the processes, publishers and agents are bench/scale_out.py's: one copy) -------------


@pytest.fixture
def vhost() -> Iterator[str]:
    """A vhost of this test's own, so that nothing another test left in hub.intake is counted here.

    Someone must listen on hub.events: the outbox publishes with `mandatory`, so with no queue bound an event
    is unroutable and the relay retries it (deploy/rabbitmq/definitions.json binds the `hub.events.log` stream
    for that reason). Here a bounded queue stands in for the partners' listeners.
    """
    ctl = shutil.which("rabbitmqctl")
    assert ctl, "rabbitmqctl is needed"
    name = f"hub_scale_{RUN_ID}_{uuid.uuid4().hex[:4]}"
    subprocess.run([ctl, "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        [ctl, "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True, capture_output=True
    )
    connection = pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@{AMQP_HOST}:5672/{name}"))
    channel = connection.channel()
    channel.exchange_declare("hub.events", "topic", durable=True)
    channel.queue_declare("test.events", arguments={"x-max-length": 1000})
    channel.queue_bind("test.events", "hub.events", routing_key="#")
    connection.close()
    yield name
    subprocess.run([ctl, "-q", "delete_vhost", name], check=False, capture_output=True)


@pytest.fixture
def processes(settings: Settings, vhost: str, tmp_path: Path) -> Iterator[Processes]:
    env = {
        **os.environ,
        "HUB_DATABASE_URL": settings.database_url or "",
        "HUB_REDIS_URL": settings.redis_url or "",
        "HUB_AMQP_URL": f"amqp://guest:guest@{AMQP_HOST}:5672/{vhost}",
        "HUB_REDIS_PREFIX": settings.redis_prefix,
        "HUB_INTAKE_BATCH_WAIT_MS": "5",
        "HUB_RESERVATION_TIMEOUT_SECONDS": str(RESERVATION_TIMEOUT),
        "HUB_MISSED_OFFERS_BEFORE_NOT_READY": "1000",
        "HUB_LOG_LEVEL": os.environ.get("HUB_TEST_SCALE_LOG_LEVEL", "WARNING"),
    }
    running = Processes(env, tmp_path)
    yield running
    running.stop_all()  # the test stops them itself; this is for a test that failed before


# -- measurements --------------------------------------------------------------------------------------


async def _count(hub: Hub, slug: str, ids: list[str] | None = None) -> int:
    async with hub.sessionmaker() as conn:  # a session: it carries the row-level security scope
        if ids is None:
            sql = "SELECT count(*) FROM enquiries WHERE tenant_slug = :slug"
            return int((await conn.execute(text(sql), {"slug": slug})).scalar_one())
        sql = "SELECT count(*) FROM enquiries WHERE tenant_slug = :slug AND message_id = ANY(:ids)"
        return int((await conn.execute(text(sql), {"slug": slug, "ids": ids})).scalar_one())


async def _intake_rate(hub: Hub, url: str, slug: str, processes: Processes) -> tuple[float, list[str]]:
    """Enquiries queued per second for a burst published while the workers are consuming."""
    started = datetime.now(UTC)
    ids = await publish_burst(url, slug, BURST, enquiry)
    deadline = time.monotonic() + 60
    while await _count(hub, slug, ids) < BURST:
        processes.check_alive()
        assert time.monotonic() < deadline, "the burst was not taken in within 60 s"
        await asyncio.sleep(0.1)
    async with hub.sessionmaker() as conn:  # a session: it carries the row-level security scope
        last = (
            await conn.execute(
                text(
                    "SELECT max(queued_at) FROM enquiries WHERE tenant_slug = :slug AND message_id = ANY(:ids)"
                ),
                {"slug": slug, "ids": ids},
            )
        ).scalar_one()
    return BURST / (last - started).total_seconds(), ids


@pytest.fixture
async def agent_tokens(hub: Hub) -> AsyncIterator[Any]:
    async def make(agents: list[str]) -> list[str]:
        async with unit_of_work(hub.sessionmaker) as session:
            return [await create_token(session, role="agent", agent_id=a) for a in agents]

    yield make


# -- the test ------------------------------------------------------------------------------------------


async def test_three_workers_and_two_apis_lose_nothing_duplicate_nothing_and_take_in_more(
    hub: Hub, make_partner: Any, agent_tokens: Any, processes: Processes, vhost: str
) -> None:
    began = time.monotonic()
    partner = await make_partner("scale", agents=AGENTS)
    tokens = await agent_tokens(partner.agents)
    url = processes.env["HUB_AMQP_URL"]

    # The APIs start while the first worker does (they only need PostgreSQL, Redis and the broker).
    ports = [free_port(), free_port()]
    for i, port in enumerate(ports):
        processes.start(f"api{i}", "serve", "--host", "127.0.0.1", "--port", str(port))
    processes.start("worker0", "worker")
    await wait_for_consumers(url, 1, processes)

    # 1 worker, then 3 workers: the same burst, measured the same way.
    phases = {"start": time.monotonic() - began}
    rate_one, published = await _intake_rate(hub, url, partner.slug, processes)
    phases["1 worker"] = time.monotonic() - began
    processes.start("worker1", "worker")
    processes.start("worker2", "worker")
    await wait_for_consumers(url, 3, processes)
    phases["3 up"] = time.monotonic() - began
    rate_three, more = await _intake_rate(hub, url, partner.slug, processes)
    published += more
    phases["3 workers"] = time.monotonic() - began
    print(f"\nintake: 1 worker {rate_one:.0f}/s, 3 workers {rate_three:.0f}/s ({rate_three / rate_one:.2f}x)")

    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) for port in ports]
    try:
        await wait_until_ready(clients, processes)

        # Agents work through both APIs while a partner keeps publishing.
        stop = threading.Event()
        steady: list[str] = []
        publisher = asyncio.create_task(
            asyncio.to_thread(publish_steady, url, partner.slug, STEADY_RATE, stop, steady, enquiry)
        )
        until = time.monotonic() + AGENT_SECONDS
        stats = [AgentStats() for _ in tokens]
        try:
            await asyncio.gather(
                *(
                    # Mostly accept and complete; 5 % let time out (and the first agent its first offer), 7 %
                    # rejected: the re-offer paths run across processes.
                    work_as_agent(
                        clients,
                        t,
                        until,
                        i,
                        s,
                        reservation_timeout=RESERVATION_TIMEOUT,
                        ignore_share=0.05,
                        reject_share=0.07,
                        ignore_first=i == 0,
                    )
                    for i, (t, s) in enumerate(zip(tokens, stats, strict=True))
                )
            )
        finally:
            stop.set()
            await publisher
    finally:
        for client in clients:
            await client.aclose()

    phases["agents"] = time.monotonic() - began
    # Everything published is taken in.
    expected = await _count(hub, partner.slug)
    total_published = 2 * BURST + len(steady)
    deadline = time.monotonic() + 30
    while (expected := await _count(hub, partner.slug)) < total_published:
        processes.check_alive()
        assert time.monotonic() < deadline, f"{expected} of {total_published} taken in"
        await asyncio.sleep(0.2)
    processes.check_alive()

    async with hub.sessionmaker() as conn:  # a session: it carries the row-level security scope
        rows = (
            await conn.execute(
                text("SELECT id, message_id FROM enquiries WHERE tenant_slug = :slug"), {"slug": partner.slug}
            )
        ).all()
        events = (
            await conn.execute(
                text(
                    "SELECT e.id, e.enquiry_id, e.event, e.agent_id FROM enquiry_events e "
                    "JOIN enquiries q ON q.id = e.enquiry_id WHERE q.tenant_slug = :slug ORDER BY e.id"
                ),
                {"slug": partner.slug},
            )
        ).all()
    rejected = await asyncio.to_thread(queue_depth, url, "hub.intake.rejected")

    # No loss, no duplicate: every message_id published is exactly one enquiry, and nothing was refused.
    message_ids = [r.message_id for r in rows]
    assert len(message_ids) == len(set(message_ids)) == total_published
    assert set(message_ids) == {*published, *steady}
    assert rejected == 0
    received = Counter(e.enquiry_id for e in events if e.event == "enquiry.received")
    assert set(received) == {r.id for r in rows} and set(received.values()) == {1}

    # No enquiry offered to two agents at once, and no agent holding two offers or calls at once.
    holder: dict[int, str | None] = {}
    answered: dict[int, str] = {}
    agent_holds: dict[str, int | None] = defaultdict(lambda: None)
    offers = completions = timeouts = rejections = 0
    for e in events:
        if e.event == "enquiry.offered":
            offers += 1
            assert holder.get(e.enquiry_id) is None, (
                f"enquiry {e.enquiry_id} offered to {e.agent_id} while {holder[e.enquiry_id]} held it"
            )
            assert e.enquiry_id not in answered, f"enquiry {e.enquiry_id} offered again after it was answered"
            assert agent_holds[e.agent_id] is None, (
                f"{e.agent_id} offered {e.enquiry_id} while holding {agent_holds[e.agent_id]}"
            )
            holder[e.enquiry_id] = e.agent_id
            agent_holds[e.agent_id] = e.enquiry_id
        elif e.event in ("enquiry.offer_timed_out", "enquiry.offer_rejected", "enquiry.offer_withdrawn"):
            timeouts += e.event == "enquiry.offer_timed_out"
            rejections += e.event == "enquiry.offer_rejected"
            assert holder.get(e.enquiry_id) == e.agent_id, (e.event, e.enquiry_id, e.agent_id)
            holder[e.enquiry_id] = None
            agent_holds[e.agent_id] = None
        elif e.event == "enquiry.answered":
            assert holder.get(e.enquiry_id) == e.agent_id, (
                "answered by a non-holder",
                e.enquiry_id,
                e.agent_id,
            )
            answered[e.enquiry_id] = e.agent_id
        elif e.event == "enquiry.completed":
            completions += 1
            assert answered.get(e.enquiry_id) == e.agent_id, ("completed by another", e.enquiry_id)
            holder[e.enquiry_id] = None
            agent_holds[e.agent_id] = None

    errors = [e for s in stats for e in s.errors]
    assert not errors, f"the APIs answered what an agent did not expect: {errors[:5]}"
    done = sum(s.completed for s in stats)
    requests = sum((s.requests for s in stats), Counter())
    latencies = [x for s in stats for x in s.latencies]
    print(
        f"agents: {done} completed, {offers} offers, {timeouts} timed out, {rejections} rejected; "
        f"requests per API {dict(requests)}, median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {statistics.quantiles(latencies, n=20)[-1] * 1000:.0f} ms; {total_published} enquiries; "
        f"phases {', '.join(f'{k} {v:.0f}s' for k, v in phases.items())}, all {time.monotonic() - began:.0f} s"
    )
    assert completions == done and done >= AGENTS
    assert timeouts >= 1 and rejections >= 1, "the re-offer paths were exercised"
    assert min(requests.values()) > 0.4 * sum(requests.values()), "both APIs served the agents"
    # Every process stops by itself on SIGTERM, well inside Kubernetes' 30 s grace period.
    stopped = processes.stop_all(grace=20)
    print(f"stopped after SIGTERM (s): {stopped}")
    assert None not in stopped.values(), f"killed after 20 s: {stopped}\n{processes.tails()}"
    # More intake with 3 workers than with 1 (on this 2-core machine the gain is modest; see docs/operations.md).
    assert rate_three > rate_one, f"3 workers {rate_three:.0f}/s is not more than 1 worker {rate_one:.0f}/s"
