"""Faults under load: nothing published to hub.intake is lost or doubled while the worker is killed and the broker,
the live state and the database connections are taken away. Then a reconciliation over every message_id.

How each fault is made, without disturbing other engineers' runs on the same servers (see docs/guarantees.md):
- worker: a real ``hub worker`` process, killed with SIGKILL three times and started again;
- RabbitMQ: every connection of this run's vhost closed by the broker (``rabbitmqctl close_connection``), not
  ``stop_app``, which would stop the node under everyone;
- Redis: every key under this test's prefix deleted (the live state is lost; the worker rebuilds it from Postgres);
- PostgreSQL: every connection of the application role to this run's database terminated (``pg_terminate_backend``),
  not a server restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest
import redis as redis_sync
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.settings import Settings
from hub.worker import Worker
from routing.models import Enquiry, IntakeRejection
from tests.conftest import PG_ADMIN_URL, REDIS_URL, eventually
from tests.helpers_amqp import PartnerClient, enquiry

pytestmark = pytest.mark.faults

MESSAGES = 1200
RATE_PER_SECOND = 80


class Worker_:
    """A ``hub worker`` subprocess on this test's database, vhost and Redis prefix."""

    def __init__(self, settings: Settings) -> None:
        self.env = {
            **os.environ,
            "HUB_DATABASE_URL": settings.database_url or "",
            "HUB_MIGRATE_DATABASE_URL": settings.migrate_database_url or "",
            "HUB_REDIS_URL": settings.redis_url or "",
            "HUB_AMQP_URL": settings.amqp_url or "",
            "HUB_REDIS_PREFIX": settings.redis_prefix,
            "HUB_LOG_LEVEL": "WARNING",
            "HUB_INTAKE_BATCH_WAIT_MS": "2",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        hub_command = str(Path(sys.executable).parent / "hub")
        self.process = subprocess.Popen(
            [hub_command, "worker"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
    """Publishes MESSAGES at a steady rate with confirms; through a dropped connection it reconnects and publishes
    again whatever was not confirmed (at least once: the hub's idempotency makes a repeat harmless)."""

    def __init__(self, url: str, partners: list[str]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.partners = partners
        self.expected: dict[str, tuple[str, str]] = {}  # message_id -> (partner, "enquiry" | "rejection")
        self.reconnects = 0
        self.error: BaseException | None = None

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
            for i in range(MESSAGES):
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


def _close_vhost_connections(vhost: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "-s", "list_connections", "-p", vhost, "pid"],
        check=True,
        capture_output=True,
        text=True,
    )
    closed = 0
    for pid in listed.stdout.split():
        subprocess.run(
            ["rabbitmqctl", "-q", "close_connection", pid, "fault test: dropped"],
            check=False,
            capture_output=True,
        )
        closed += 1
    return closed


def _delete_live_state(prefix: str) -> int:
    client = redis_sync.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


def _terminate_db_connections(database: str) -> int:
    out = subprocess.run(
        [
            "psql",
            PG_ADMIN_URL,
            "-Atqc",
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid() AND usename <> 'postgres'",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip() or 0)


@pytest.fixture
def worker_process(settings: Settings) -> Iterator[Worker_]:
    process = Worker_(settings)
    process.start()
    yield process
    process.stop()


async def test_nothing_is_lost_or_doubled_through_kills_disconnects_and_outages(
    hub: Hub,
    make_partner,
    settings: Settings,
    worker_process: Worker_,
    amqp_url: str,
    amqp_vhost: str,
    database_url: str,
) -> None:
    a, b = await make_partner("fault-a", agents=0), await make_partner("fault-b", agents=0)
    database = database_url.rsplit("/", 1)[1]
    publisher = SteadyPublisher(amqp_url, [a.slug, b.slug])
    publisher.start()
    faults: list[str] = []
    for _ in range(3):
        await asyncio.sleep(2)
        worker_process.kill9()
        faults.append("worker killed -9")
        await asyncio.sleep(0.5)
        worker_process.start()
    await asyncio.sleep(1.5)
    faults.append(
        f"broker closed {await asyncio.to_thread(_close_vhost_connections, amqp_vhost)} connections"
    )
    await asyncio.sleep(1.5)
    faults.append(
        f"live state lost ({await asyncio.to_thread(_delete_live_state, settings.redis_prefix)} keys)"
    )
    await asyncio.sleep(1.5)
    faults.append(
        f"database cut ({await asyncio.to_thread(_terminate_db_connections, database)} connections)"
    )
    await asyncio.to_thread(publisher.join, 120)
    assert publisher.error is None, publisher.error
    assert not publisher.is_alive()
    assert len(publisher.expected) == MESSAGES
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
    enquiries, rejections = await outcome_counts()
    wrong = []
    for message_id, (_partner, kind) in publisher.expected.items():
        ended = (enquiries.get(message_id, 0), rejections.get(message_id, 0))
        if ended != ((1, 0) if kind == "enquiry" else (0, 1)):
            wrong.append((message_id, kind, ended))
    assert wrong == [], wrong[:5]
    assert set(enquiries) | set(rejections) <= set(ids)  # nothing that was not published

    # The live state (rebuilt after its loss) agrees with the database: every waiting enquiry holds its place,
    # and no reservation is stuck (nothing offered or reserved with no agent to hold it).
    await eventually(hub.live.is_built, timeout=30)
    async with hub.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Enquiry.id, Enquiry.tenant_slug, Enquiry.state).where(
                    Enquiry.tenant_slug.in_([a.slug, b.slug])
                )
            )
        ).all()
    assert {state for _, _, state in rows} == {"queued"}
    missing = [enquiry_id for enquiry_id, _, _ in rows if await hub.live.position(enquiry_id) is None]
    assert missing == []
    # Every figure adds up, per partner: offered = answered + abandoned + still waiting.
    for partner in (a.slug, b.slug):
        offered = sum(1 for m, (p, k) in publisher.expected.items() if p == partner and k == "enquiry")
        states = [state for _, tenant, state in rows if tenant == partner]
        answered = sum(1 for s in states if s in ("answered", "completed", "wrap_up"))
        abandoned = sum(1 for s in states if s == "abandoned")
        waiting = sum(1 for s in states if s == "queued")
        assert offered == len(states) == answered + abandoned + waiting, (partner, offered, len(states))
    assert worker_process.kills == 3
    print("faults:", faults, "publisher reconnects:", publisher.reconnects)


async def test_a_poison_message_ends_in_the_dead_letter_queue_after_the_delivery_limit(
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
        assert "x-hub-error" not in headers  # not refused by the hub: dead-lettered by the broker
        assert headers.get("x-first-death-reason") == "delivery_limit", headers
        assert attempts >= hub.settings.intake_delivery_limit
        async with hub.sessionmaker() as session:
            stored = set(
                (
                    await session.scalars(
                        select(Enquiry.message_id).where(Enquiry.tenant_slug == partner.slug)
                    )
                ).all()
            )
        assert stored == {good, after}  # the others went through; the poison one did not block them
    finally:
        client.close()
