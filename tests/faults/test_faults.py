"""Faults under load: nothing published to hub.intake is lost or doubled while the worker is killed and RabbitMQ,
Redis and PostgreSQL are really stopped and started again, with agents taking offers all along. Then a
reconciliation over every message_id, every reservation and the figures.

The group runs on private servers of its own (tests/faults/servers.py: a PostgreSQL cluster, a redis-server and a
RabbitMQ node in a temporary directory, on free ports, started once for the module), so it restarts them for real
without disturbing other engineers' runs on the shared servers:
- worker: a real ``hub worker`` process, killed with SIGKILL three times and started again;
- RabbitMQ: the node stopped (``rabbitmqctl stop``: the Erlang VM exits) and started again;
- Redis: FLUSHALL, then the server stopped and started again (the worker rebuilds the live state from Postgres);
- PostgreSQL: the cluster restarted (``pg_ctl stop -m fast`` and ``start``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pika
import pika.exceptions
import pytest
from sqlalchemy import func, select

from figures.service import tenant_figures
from hub.api.app import create_app
from hub.runtime import Hub
from hub.worker import Worker
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from routing.models import Enquiry, EnquiryEvent, IntakeRejection
from tenants.tokens import create_token
from tests.conftest import eventually
from tests.faults.servers import PrivateServers
from tests.helpers_amqp import PartnerClient, enquiry

pytestmark = pytest.mark.faults

RATE_PER_SECOND = 80  # steady load from before the first fault until after the last
AT_LEAST = 1200


class Worker_:
    """A ``hub worker`` subprocess on this test's database, vhost and Redis prefix."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.env = {
            **os.environ,
            "HUB_DATABASE_URL": settings.database_url or "",
            "HUB_MIGRATE_DATABASE_URL": settings.migrate_database_url or "",
            "HUB_REDIS_URL": settings.redis_url or "",
            "HUB_AMQP_URL": settings.amqp_url or "",
            "HUB_REDIS_PREFIX": settings.redis_prefix,
            "HUB_LOG_LEVEL": "INFO",
            "HUB_INTAKE_BATCH_WAIT_MS": "2",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.log_path = log_path

    def start(self) -> None:
        hub_command = str(Path(sys.executable).parent / "hub")
        with self.log_path.open("ab") as log_file:  # every life of the worker, one after the other
            self.process = subprocess.Popen(
                [hub_command, "worker"], env=self.env, stdout=log_file, stderr=subprocess.STDOUT
            )

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


class SteadyPublisher(threading.Thread):
    """Publishes at a steady rate with confirms until told to stop; through a dropped connection it reconnects and publishes
    again whatever was not confirmed (at least once: the hub's idempotency makes a repeat harmless)."""

    def __init__(self, url: str, partners: list[str]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.partners = partners
        self.expected: dict[str, tuple[str, str]] = {}  # message_id -> (partner, "enquiry" | "rejection")
        self.reconnects = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def _channel(self) -> tuple[pika.BlockingConnection, Any]:
        while True:
            try:
                connection = pika.BlockingConnection(pika.URLParameters(self.url))
                channel = connection.channel()
                channel.confirm_delivery()
                return connection, channel
            except pika.exceptions.AMQPError:
                time.sleep(0.2)

    def run(self) -> None:
        try:
            connection, channel = self._channel()
            start = time.monotonic()
            i = -1
            while not self.stop.is_set():
                i += 1
                partner = self.partners[i % len(self.partners)]
                message_id = f"fault-{uuid.uuid4().hex}"
                body = enquiry(partner)
                kind = "enquiry"
                if i % 10 == 7:  # one in ten is bad: it must end as a rejection, once
                    body.pop("received_at")
                    kind = "rejection"
                self.expected[message_id] = (partner, kind)
                payload = json.dumps(body).encode()
                while True:
                    try:
                        channel.basic_publish(
                            "hub.intake",
                            f"{partner}.phone",
                            payload,
                            pika.BasicProperties(
                                message_id=message_id,
                                content_type="application/json",
                                type="enquiry.v1",
                                delivery_mode=2,
                            ),
                            mandatory=True,
                        )
                        break
                    except (pika.exceptions.AMQPError, OSError):
                        self.reconnects += 1
                        try:
                            if connection.is_open:
                                connection.close()
                        except Exception:
                            pass
                        time.sleep(0.1)
                        connection, channel = self._channel()
                delay = start + (i + 1) / RATE_PER_SECOND - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            connection.close()
        except BaseException as exc:  # surfaced by the test
            self.error = exc


async def _empty(pending: Any) -> bool:
    return not await pending


@pytest.fixture
def worker_process(settings: Settings, tmp_path: Path) -> Iterator[Worker_]:
    process = Worker_(settings, tmp_path / "worker.log")
    process.start()
    yield process
    process.stop()


@dataclass
class AgentRecord:
    completed: set[int] = field(default_factory=set)
    errors: int = 0
    signed_off: bool = False


async def _agent(client: httpx.AsyncClient, token: str, stop: asyncio.Event, record: AgentRecord) -> None:
    """Take offers through the API all along, as a person would through the outages: a call that fails (the
    database or Redis is away) is tried again a moment later; accept, then complete."""
    headers = {"Authorization": f"Bearer {token}"}

    async def call(method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response | None:
        try:
            response = await client.request(method, f"/api/v1/agents/me{path}", json=body, headers=headers)
        except Exception:  # the in-process API raised: a server away
            record.errors += 1
            return None
        if response.status_code >= 500:
            record.errors += 1
            return None
        return response

    idle_since = time.monotonic()
    available = False
    while not stop.is_set():
        if not available or time.monotonic() - idle_since > 2:
            # Again after an error or a quiet spell: a restart of Redis may have lost the presence.
            response = await call("PUT", "/status", {"status": "available"})
            available = response is not None and response.status_code in (200, 409)
            idle_since = time.monotonic()
        response = await call("GET", "/offer")
        offer = response.json()["offer"] if response is not None and response.status_code == 200 else None
        if offer is None:
            await asyncio.sleep(0.1 if response is not None else 0.3)
            continue
        idle_since = time.monotonic()
        enquiry_id = offer["enquiry_id"]
        for _ in range(20):  # an outage's error may come after the accept committed: ask again (idempotent)
            accepted = await call("POST", "/offer/accept", {"enquiry_id": enquiry_id})
            if accepted is not None:
                break
            await asyncio.sleep(0.3)
        if accepted is None or accepted.status_code != 200:
            continue  # stale (expired meanwhile): the offer went back to the queue
        for _ in range(100):  # the work is in hand: complete it, through outages too
            done = await call("POST", "/complete", {"enquiry_id": enquiry_id, "outcome": "resolved"})
            if done is not None and done.status_code in (200, 409):
                break
            await asyncio.sleep(0.3)
        record.completed.add(enquiry_id)
    # Done: hand back what is on offer and sign off (an offer arriving in between refuses the sign-off: again).
    for _ in range(50):
        response = await call("GET", "/offer")
        if response is not None and response.status_code == 200 and response.json()["offer"] is not None:
            await call("POST", "/offer/reject", {"enquiry_id": response.json()["offer"]["enquiry_id"]})
        response = await call("PUT", "/status", {"status": "offline"})
        if response is not None and response.status_code == 200:
            record.signed_off = True
            return
        await asyncio.sleep(0.1)


async def test_nothing_is_lost_or_doubled_through_kills_and_real_restarts(
    hub: Hub,
    make_partner,
    settings: Settings,
    worker_process: Worker_,
    amqp_url: str,
    private_servers: PrivateServers,
) -> None:
    began = time.monotonic()
    a, b = await make_partner("fault-a", agents=2), await make_partner("fault-b", agents=2)
    async with unit_of_work(hub.sessionmaker) as session:
        tokens = [await create_token(session, role="agent", agent_id=agent) for agent in a.agents + b.agents]
    records = [AgentRecord() for _ in tokens]
    agents_stop = asyncio.Event()
    transport = httpx.ASGITransport(app=create_app(hub), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        agents = [
            asyncio.create_task(_agent(client, token, agents_stop, record))
            for token, record in zip(tokens, records, strict=True)
        ]
        publisher = SteadyPublisher(amqp_url, [a.slug, b.slug])
        publisher.start()
        faults: list[tuple[str, float]] = []
        faults_at: list[tuple[str, str]] = []

        async def fault(name: str, action: Any) -> None:
            started = time.monotonic()
            await asyncio.to_thread(action)
            faults.append((name, round(time.monotonic() - started, 1)))
            faults_at.append((name, datetime.now(UTC).strftime("%H:%M:%S.%f")))

        for _ in range(3):
            await asyncio.sleep(1.5)
            await fault("worker killed -9", worker_process.kill9)
            await asyncio.sleep(0.3)
            worker_process.start()
        await asyncio.sleep(1.5)
        await fault("RabbitMQ stopped and started", private_servers.rabbit.restart)
        await asyncio.sleep(1.5)
        await fault("Redis flushed (FLUSHALL) and restarted", private_servers.redis.flush_and_restart)
        await asyncio.sleep(1.5)
        await fault("PostgreSQL restarted", private_servers.postgres.restart)
        await asyncio.sleep(2)
        assert publisher.is_alive(), publisher.error
        # At least AT_LEAST in all, however quickly the servers came back this time (a RabbitMQ restart takes
        # 4 to 15 s here): the load goes on until then.
        await eventually(lambda: len(publisher.expected) >= AT_LEAST or not publisher.is_alive(), timeout=60)
        publisher.stop.set()
        await asyncio.to_thread(publisher.join, 60)
        assert publisher.error is None, publisher.error
        assert not publisher.is_alive()
        assert len(publisher.expected) >= AT_LEAST
        ids = list(publisher.expected)

        async def outcome_counts() -> tuple[dict[str, int], dict[str, int]]:
            async with hub.sessionmaker() as session:
                enquiries = dict(
                    (
                        await session.execute(
                            select(Enquiry.message_id, func.count())
                            .where(Enquiry.tenant_slug.in_([a.slug, b.slug]))
                            .group_by(Enquiry.message_id)
                        )
                    ).all()
                )
                rejections = dict(
                    (
                        await session.execute(
                            select(IntakeRejection.message_id, func.count())
                            .where(IntakeRejection.claimed_tenant.in_([a.slug, b.slug]))
                            .group_by(IntakeRejection.message_id)
                        )
                    ).all()
                )
            return enquiries, rejections

        async def all_ended() -> bool:
            enquiries, rejections = await outcome_counts()
            return sum(1 for m in ids if m in enquiries or m in rejections) == len(ids)

        await eventually(all_ended, timeout=120, interval=1)
        await asyncio.sleep(2)  # agents keep answering a little after the last message
        agents_stop.set()
        await asyncio.wait_for(asyncio.gather(*agents), timeout=60)

    enquiries, rejections = await outcome_counts()
    wrong = []
    for message_id, (_partner, kind) in publisher.expected.items():
        ended = (enquiries.get(message_id, 0), rejections.get(message_id, 0))
        if ended != ((1, 0) if kind == "enquiry" else (0, 1)):
            wrong.append((message_id, kind, ended))
    assert wrong == [], wrong[:5]
    assert set(enquiries) | set(rejections) <= set(ids)  # nothing that was not published
    completed_by_agents = set().union(*(r.completed for r in records))
    assert completed_by_agents, "agents answered nothing: offers did not flow through the faults"

    # No reservation is stuck: once the agents have signed off and the reservation timeout has passed, nothing is
    # offered or in anyone's hand, every waiting enquiry holds its place in the (rebuilt) live state, and every
    # enquiry an agent completed is completed.
    await eventually(hub.live.is_built, timeout=30)

    async def rows() -> list[tuple[int, str, str]]:
        async with hub.sessionmaker() as session:
            result = await session.execute(
                select(Enquiry.id, Enquiry.tenant_slug, Enquiry.state).where(
                    Enquiry.tenant_slug.in_([a.slug, b.slug])
                )
            )
            return [(i, t, s) for i, t, s in result.all()]

    async def settled() -> list[tuple[int, str, str]] | None:
        current = await rows()
        return current if {state for _, _, state in current} <= {"queued", "completed"} else None

    try:
        current = await eventually(settled, timeout=settings.reservation_timeout_seconds + 45, interval=0.5)
    except AssertionError:
        left = [(i, t, s) for i, t, s in await rows() if s not in ("queued", "completed")]
        raise AssertionError(
            f"not settled: {len(left)} enquiries still {sorted({s for *_, s in left})}: {left[:5]}"
        ) from None
    assert all(r.signed_off for r in records)
    for agent in a.agents + b.agents:
        assert await hub.live.offer_for(agent) is None, agent
    waiting = [enquiry_id for enquiry_id, _, state in current if state == "queued"]

    async def not_in_live_state() -> list[int]:
        return [enquiry_id for enquiry_id in waiting if await hub.live.position(enquiry_id) is None]

    with contextlib.suppress(AssertionError):  # an offer that just expired is on its way back to its queue
        await eventually(lambda: _empty(not_in_live_state()), timeout=10, interval=0.5)
    lost = await not_in_live_state()
    if lost:
        async with hub.sessionmaker() as session:
            history = (
                await session.execute(
                    select(
                        EnquiryEvent.enquiry_id, EnquiryEvent.event, EnquiryEvent.at, EnquiryEvent.agent_id
                    )
                    .where(EnquiryEvent.enquiry_id.in_(lost))
                    .order_by(EnquiryEvent.id)
                )
            ).all()
        lines = worker_process.log_path.read_text(errors="replace").splitlines()
        print(
            "\n".join(
                line[:400] for line in lines if '"info"' not in line or "live." in line or "amqp." in line
            )
        )
        raise AssertionError(
            f"waiting but not in the live state: {lost}; {[tuple(map(str, h)) for h in history]}; faults: {faults_at}"
        )
    completed = {enquiry_id for enquiry_id, _, state in current if state == "completed"}
    assert completed_by_agents <= completed
    assert completed == completed_by_agents  # nobody completed what no agent did

    # Every figure adds up, per partner, from the event log: offered = answered + abandoned + still waiting,
    # answered = handled = completed, and each completed enquiry was answered exactly once.
    since = datetime.now(UTC) - timedelta(seconds=time.monotonic() - began + 60)
    async with hub.sessionmaker() as session:
        answered_events = dict(
            (
                await session.execute(
                    select(EnquiryEvent.enquiry_id, func.count())
                    .where(
                        EnquiryEvent.tenant_slug.in_([a.slug, b.slug]),
                        EnquiryEvent.event == "enquiry.answered",
                    )
                    .group_by(EnquiryEvent.enquiry_id)
                )
            ).all()
        )
        for partner in (a.slug, b.slug):
            published = sum(1 for p, k in publisher.expected.values() if p == partner and k == "enquiry")
            states = [state for _, tenant, state in current if tenant == partner]
            figures = await tenant_figures(session, tenant=partner, start=since, end=datetime.now(UTC))
            done = sum(1 for s in states if s == "completed")
            still = sum(1 for s in states if s == "queued")
            assert figures.offered == published == len(states), (partner, figures.offered, published)
            assert figures.answered == figures.handled == done, (partner, figures)
            assert figures.offered == figures.answered + figures.abandoned + still, (partner, figures)
    assert set(answered_events) == completed
    assert set(answered_events.values()) <= {1}
    assert worker_process.kills == 3
    print(
        f"faults test: {time.monotonic() - began:.0f} s; faults (name, seconds): {faults}; "
        f"publisher reconnects: {publisher.reconnects}; completed by agents: {len(completed)}; "
        f"agents' failed calls during outages: {sum(r.errors for r in records)}"
    )


async def test_a_message_that_crashes_processing_is_refused_once_not_redelivered(
    hub: Hub, worker: Worker, make_partner, amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = await make_partner("poison", agents=0)
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)
    poison_id = f"poison-{uuid.uuid4().hex}"
    real_process = hub.intake.process
    attempts = 0

    async def crashing(batch: list[Any]) -> Any:
        nonlocal attempts
        if any(m.message_id == poison_id for m in batch):
            attempts += 1
            raise RuntimeError("test: this message crashes processing every time")
        return await real_process(batch)

    monkeypatch.setattr(hub.intake, "process", crashing)
    client = PartnerClient(amqp_url)
    try:
        client.rejected()
        good = client.publish(f"{partner.slug}.phone", enquiry(partner.slug))
        client.publish(f"{partner.slug}.phone", enquiry(partner.slug), message_id=poison_id)
        after = client.publish(f"{partner.slug}.phone", enquiry(partner.slug))
        dead: list[Any] = []

        def dead_lettered() -> bool:
            dead.extend(d for d in client.rejected() if d.message_id == poison_id)
            return bool(dead)

        await eventually(dead_lettered, timeout=60, interval=0.2)
        headers = dead[0].headers
        # Refused by the hub with a code on its first delivery (the batch halved until it was alone), not
        # redelivered until the broker's delivery limit dead-letters it.
        assert headers.get("x-hub-error") == "unprocessable", headers
        assert "x-first-death-reason" not in headers, headers
        assert 2 <= attempts <= 3, attempts  # its batch, then alone (its batch-mates may be in another batch)
        async with hub.sessionmaker() as session:
            refused = (
                await session.scalars(
                    select(IntakeRejection.code).where(IntakeRejection.message_id == poison_id)
                )
            ).all()
        assert refused == ["unprocessable"]

        async def stored() -> set[str]:
            async with hub.sessionmaker() as session:
                return set(
                    (
                        await session.scalars(
                            select(Enquiry.message_id).where(Enquiry.tenant_slug == partner.slug)
                        )
                    ).all()
                )

        # The halves are settled in order ([good], then [poison, after] halved again): the poison's refusal is
        # relayed to the broker while ``after`` is still being stored, so it may be dead-lettered first.
        async def both_stored() -> bool:
            return await stored() == {good, after}

        with contextlib.suppress(AssertionError):  # waited for; the assertion below says what is missing
            await eventually(both_stored, timeout=10)
        assert await stored() == {good, after}  # the others went through; the poison one did not block them
    finally:
        client.close()
