"""Scale-out on one machine: 3 `hub worker` and 2 `hub serve` processes on the same PostgreSQL, Redis and
RabbitMQ vhost, under load, with simulated agents working through both APIs.

Shows: no loss (every message_id published is exactly one enquiry), no duplicate enquiry, no enquiry offered to
two agents at once (from `enquiry_events`), and more enquiries queued per second with 3 workers than with 1
(both measured here, the same way: workers consuming, then a burst published with streamed confirms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pika
import pika.exceptions
import pytest
from sqlalchemy import text

from hub.runtime import Hub
from plumbing.bus.amqp import AmqpConnection
from plumbing.bus.base import OutgoingMessage
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


# -- processes -----------------------------------------------------------------------------------------


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Processes:
    env: dict[str, str]
    logs: Path
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.running.append((name, process))
        return process

    def check_alive(self) -> None:
        dead = [(n, p.returncode) for n, p in self.running if p.poll() is not None]
        assert not dead, f"processes died: {dead}\n{self.tails()}"

    def tails(self) -> str:
        out = []
        for name, _ in self.running:
            lines = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
            out.append(f"--- {name}\n" + "\n".join(lines[-15:]))
        return "\n".join(out)

    def stop_all(self, grace: float = 15.0) -> dict[str, float | None]:
        """SIGTERM to all, then SIGKILL what is still running after ``grace`` s; how long each took (None: killed)."""
        for _, process in self.running:
            if process.poll() is None:
                process.terminate()
        began = time.monotonic()
        took: dict[str, float | None] = {}
        for name, process in self.running:
            try:
                process.wait(timeout=max(0.1, grace - (time.monotonic() - began)))
                took[name] = round(time.monotonic() - began, 1)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                took[name] = None
        return took


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


# -- the broker side -----------------------------------------------------------------------------------


def _consumers(url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        count: int = connection.channel().queue_declare("hub.intake", passive=True).method.consumer_count
        return count
    except pika.exceptions.ChannelClosedByBroker:
        return 0  # not declared yet: the first worker declares the topology when it starts
    finally:
        if connection.is_open:
            connection.close()


async def _wait_for_consumers(url: str, count: int, processes: Processes, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(_consumers, url) < count:
        processes.check_alive()
        assert time.monotonic() < deadline, (
            f"{count} consumers not attached within {timeout}s\n{processes.tails()}"
        )
        await asyncio.sleep(0.1)


def _message(slug: str, message_id: str) -> OutgoingMessage:
    return OutgoingMessage(
        exchange="hub.intake",
        routing_key=f"{slug}.phone",
        body=json.dumps(enquiry(slug)).encode(),
        message_id=message_id,
        type="enquiry.v1",
    )


async def _publish_burst(url: str, slug: str, count: int) -> list[str]:
    """Publish ``count`` enquiries with mandatory and confirms streamed (pika's asyncio adapter)."""
    ids = [f"burst-{uuid.uuid4().hex}" for _ in range(count)]
    connection = await AmqpConnection.open(url, name="test-partner")
    try:
        channel = await connection.channel()
        await channel.enable_confirms()
        for start in range(0, count, 500):
            await channel.publish_many([_message(slug, m) for m in ids[start : start + 500]])
    finally:
        await connection.close()
    return ids


def _publish_steady(url: str, slug: str, rate: float, stop: threading.Event, sent: list[str]) -> None:
    """A partner's steady stream from a thread: plain pika, a confirm per message, ``rate`` a second."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    try:
        next_at = time.monotonic()
        while not stop.is_set():
            message_id = f"steady-{uuid.uuid4().hex}"
            channel.basic_publish(
                "hub.intake",
                f"{slug}.phone",
                json.dumps(enquiry(slug)).encode(),
                pika.BasicProperties(
                    message_id=message_id, content_type="application/json", type="enquiry.v1", delivery_mode=2
                ),
                mandatory=True,
            )
            sent.append(message_id)
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        connection.close()


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
    ids = await _publish_burst(url, slug, BURST)
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


# -- agents --------------------------------------------------------------------------------------------


@dataclass
class AgentStats:
    completed: int = 0
    rejected: int = 0
    ignored: int = 0
    stale: int = 0
    requests: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


async def _agent(
    clients: list[httpx.AsyncClient], token: str, until: float, seed: int, stats: AgentStats
) -> None:
    """Go available, then take offers: mostly accept and complete, sometimes reject or let one time out.
    Every call alternates between the two API processes."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    turn = seed

    async def call(
        method: str, path: str, body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200,)
    ) -> httpx.Response:
        nonlocal turn
        turn += 1
        stats.requests[turn % 2] += 1
        sent = time.monotonic()
        response = await clients[turn % 2].request(
            method, f"/api/v1/agents/me{path}", json=body, headers=headers
        )
        stats.latencies.append(time.monotonic() - sent)
        assert response.status_code in ok, (path, response.status_code, response.text)
        return response

    await call("PUT", "/status", {"status": "available"})
    while time.monotonic() < until:
        offer = (await call("GET", "/offer")).json()["offer"]
        if offer is None:
            await asyncio.sleep(0.05)
            continue
        enquiry_id = offer["enquiry_id"]
        roll = rng.random()
        if roll < 0.05 or (seed == 0 and stats.ignored == 0):  # the first agent ignores its first offer
            stats.ignored += 1  # let it time out: it must go to someone else, never to two at once
            await asyncio.sleep(RESERVATION_TIMEOUT + 0.3)
        elif roll < 0.12:
            stats.rejected += 1
            await call("POST", "/offer/reject", {"enquiry_id": enquiry_id}, ok=(200, 409))
            await call("PUT", "/status", {"status": "available"})  # a reject makes the agent unavailable
        else:
            accepted = await call("POST", "/offer/accept", {"enquiry_id": enquiry_id}, ok=(200, 409))
            if accepted.status_code == 409:
                # Under load the offer may expire between reading it and accepting it: it went back to
                # the queue (and perhaps to another agent), so this agent has nothing in hand.
                assert accepted.json()["code"] == "stale_offer", accepted.text
                stats.stale += 1
                continue
            await call("POST", "/complete", {"enquiry_id": enquiry_id, "outcome": "resolved"})
            stats.completed += 1
    # Done: hand back what is on offer, then sign off (an offer arriving in between just times out later).
    offer = (await call("GET", "/offer")).json()["offer"]
    if offer is not None:
        await call("POST", "/offer/reject", {"enquiry_id": offer["enquiry_id"]}, ok=(200, 409))
    await call("PUT", "/status", {"status": "offline"}, ok=(200, 409))


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
    ports = [_free_port(), _free_port()]
    for i, port in enumerate(ports):
        processes.start(f"api{i}", "serve", "--host", "127.0.0.1", "--port", str(port))
    processes.start("worker0", "worker")
    await _wait_for_consumers(url, 1, processes)

    # 1 worker, then 3 workers: the same burst, measured the same way.
    phases = {"start": time.monotonic() - began}
    rate_one, published = await _intake_rate(hub, url, partner.slug, processes)
    phases["1 worker"] = time.monotonic() - began
    processes.start("worker1", "worker")
    processes.start("worker2", "worker")
    await _wait_for_consumers(url, 3, processes)
    phases["3 up"] = time.monotonic() - began
    rate_three, more = await _intake_rate(hub, url, partner.slug, processes)
    published += more
    phases["3 workers"] = time.monotonic() - began
    print(f"\nintake: 1 worker {rate_one:.0f}/s, 3 workers {rate_three:.0f}/s ({rate_three / rate_one:.2f}x)")

    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) for port in ports]
    try:
        deadline = time.monotonic() + 30
        for client in clients:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                processes.check_alive()
                assert time.monotonic() < deadline, "the APIs are not ready"
                await asyncio.sleep(0.2)

        # Agents work through both APIs while a partner keeps publishing.
        stop = threading.Event()
        steady: list[str] = []
        publisher = asyncio.create_task(
            asyncio.to_thread(_publish_steady, url, partner.slug, STEADY_RATE, stop, steady)
        )
        until = time.monotonic() + AGENT_SECONDS
        stats = [AgentStats() for _ in tokens]
        try:
            await asyncio.gather(
                *(_agent(clients, t, until, i, s) for i, (t, s) in enumerate(zip(tokens, stats, strict=True)))
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
    rejected = await asyncio.to_thread(_queue_depth, url, "hub.intake.rejected")

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


def _queue_depth(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        depth: int = connection.channel().queue_declare(queue, passive=True).method.message_count
        return depth
    finally:
        connection.close()
