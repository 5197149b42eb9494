"""The worker reconnects by itself after the broker drops its connection, and carries on; it stops when told to,
even with a backlog; and the tests' broker faults touch this run's vhost only."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pika
import pytest
import redis.exceptions
import sqlalchemy.exc
from sqlalchemy import func, select
from structlog.testing import capture_logs

from hub.runtime import Hub
from hub.worker import Worker, _is_storage_outage
from plumbing.bus.base import IncomingMessage
from plumbing.bus.models import OutboxMessage
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from routing.models import Enquiry, IntakeRejection
from tenants.service import apply_definitions
from tests.conftest import eventually, partner_definition
from tests.fuzz.poison import good_body
from tests.helpers_amqp import PartnerClient, close_connections, enquiry
from tests.helpers_intake import delivery
from tests.routing.intake.test_amqp_intake import _enquiries


async def test_the_worker_reconnects_after_the_broker_closes_its_connection(
    hub: Hub, worker: Worker, make_partner, amqp_url: str, amqp_vhost: str
) -> None:
    partner = await make_partner(agents=0)
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)
    # At least ours; a worker from an earlier test may still be closing in this run's vhost.
    closed = await asyncio.to_thread(close_connections, amqp_vhost, "test: dropped", client_name="hub-worker")
    assert closed >= 1
    await eventually(lambda: not worker.amqp_ready.is_set(), timeout=10)
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=30)

    client = PartnerClient(amqp_url)
    try:
        message_id = client.publish(f"{partner.slug}.phone", enquiry(partner.slug))
        rows = await eventually(lambda: _enquiries(hub, partner.slug))
        assert [r.message_id for r in rows] == [message_id]
        events: list = []

        async def announced() -> bool:
            events.extend(e.json() for e in client.events())
            return any(e["event"] == "enquiry.queued" and e["message_id"] == message_id for e in events)

        await eventually(announced)  # the relay's channel came back too
    finally:
        client.close()


async def _announced(hub: Hub, slug: str) -> bool:
    """Nothing of this partner is left in the outbox (the relay published it all)."""
    async with hub.sessionmaker() as session:
        left = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.routing_key.like(f"{slug}.%"))
        )
    return left == 0


def test_closing_a_vhosts_connections_leaves_other_vhosts_alone(amqp_vhost: str) -> None:
    """Regression: ``rabbitmqctl list_connections -p VHOST`` lists every vhost's connections, so the tests' fault
    helpers closed every ``hub worker`` on the shared broker (a soak's worker lost its channel while acking, again
    and again, whenever someone ran the suite)."""
    name = f"hub-worker-{uuid.uuid4().hex[:8]}"

    def open_named(vhost: str) -> pika.BlockingConnection:
        params = pika.ConnectionParameters(
            "127.0.0.1",
            5672,
            vhost,
            pika.PlainCredentials("guest", "guest"),
            client_properties={"connection_name": name},
        )
        return pika.BlockingConnection(params)

    theirs, ours = open_named("/"), open_named(amqp_vhost)
    try:
        assert close_connections(amqp_vhost, "test: only ours", client_name=name) == 1
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            for _ in range(50):
                ours.process_data_events(time_limit=0.1)
        theirs.process_data_events(time_limit=0.2)
        assert theirs.is_open
        theirs.channel().queue_declare("", exclusive=True)  # still usable
    finally:
        for connection in (theirs, ours):
            with contextlib.suppress(Exception):
                connection.close()


async def test_a_connection_lost_while_a_batch_commits_is_a_reconnect_not_a_failed_batch(
    hub: Hub, make_partner, amqp_url: str, amqp_vhost: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch commits, but its channel is gone before the ack: the broker has requeued the deliveries already,
    so the worker reconnects and the redelivery is a duplicate. It must not blame the batch (no per-message retry,
    no ack or nack on a dead channel, no error logged for the messages), and nothing is stored twice."""
    partner = await make_partner(agents=0)
    real_process = hub.intake.process
    marker = f"marker-{uuid.uuid4().hex}"
    batches: list[int] = []

    async def closing_during_commit(batch: list[IncomingMessage]) -> Any:
        batches.append(len(batch))
        result = await real_process(batch)
        if len(batches) == 1 and any(m.message_id == marker for m in batch):
            closed = await asyncio.to_thread(
                close_connections, amqp_vhost, "test: lost mid-batch", client_name="hub-worker"
            )
            assert closed >= 1
            await asyncio.sleep(1)  # the close reaches the worker's connection on this loop
        return result

    monkeypatch.setattr(hub.intake, "process", closing_during_commit)
    work = Worker(hub)
    client = PartnerClient(amqp_url)
    with capture_logs() as logs:
        task = asyncio.create_task(work.run())
        try:
            await asyncio.wait_for(work.amqp_ready.wait(), timeout=15)
            client.publish(f"{partner.slug}.phone", enquiry(partner.slug), message_id=marker)

            async def stored_once_and_reconnected() -> bool:
                async with hub.sessionmaker() as session:
                    count = await session.scalar(
                        select(func.count()).select_from(Enquiry).where(Enquiry.message_id == marker)
                    )
                return (
                    count == 1
                    and len(batches) >= 2
                    and work.amqp_ready.is_set()
                    and await _announced(hub, partner.slug)
                )

            await eventually(stored_once_and_reconnected, timeout=30, interval=0.2)
        finally:
            client.close()
            work.stop.set()
            await asyncio.wait_for(task, timeout=15)
    events = [entry["event"] for entry in logs]
    assert "amqp.disconnected" in events
    assert not {"intake.batch_failed", "intake.message_failed", "amqp.error"} & set(events), events
    async with hub.sessionmaker() as session:
        assert await session.scalar(select(func.count()).where(Enquiry.message_id == marker)) == 1


async def test_the_worker_stops_when_told_even_with_a_backlog(
    hub: Hub, make_partner, amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: with deliveries always waiting, the consume loop took the next batch before it looked at the
    stop, so a stop took effect only through cancellation (and Python 3.11's ``wait_for`` can swallow one): a
    ``hub worker`` under load did not stop within 20 s of SIGTERM. Now the loop itself returns."""
    partner = await make_partner(agents=0)
    monkeypatch.setattr(hub.settings, "intake_batch_size", 10)
    real_process = hub.intake.process

    async def slow(batch: list[IncomingMessage]) -> Any:
        await asyncio.sleep(0.05)  # 1,000 messages are then ~5 s of work
        return await real_process(batch)

    monkeypatch.setattr(hub.intake, "process", slow)
    client = PartnerClient(amqp_url)
    try:
        for _ in range(1000):
            client.publish(f"{partner.slug}.phone", enquiry(partner.slug))
    finally:
        client.close()
    work = Worker(hub)
    consuming = asyncio.create_task(work._amqp_loop())  # alone: Worker.run would cancel it, hiding the bug
    try:
        await eventually(lambda: work.processed >= 50, timeout=30)
        work.stop.set()
        stopped_at = work.processed
        await asyncio.wait_for(asyncio.shield(consuming), timeout=3)  # returns by itself, not cancelled
        assert work.processed - stopped_at <= 10  # at most the batch in hand was finished
    finally:
        consuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
    # Leave the run's intake queue empty for the tests after this one.
    monkeypatch.setattr(hub.intake, "process", real_process)
    monkeypatch.setattr(hub.settings, "intake_batch_size", 200)
    rest = Worker(hub)
    task = asyncio.create_task(rest.run())
    try:

        async def all_stored() -> bool:
            async with hub.sessionmaker() as session:
                count = await session.scalar(
                    select(func.count()).select_from(Enquiry).where(Enquiry.tenant_slug == partner.slug)
                )
            return count == 1000 and await _announced(hub, partner.slug)

        # Stored and announced: events left in the outbox would reach the next tests' event queues.
        await eventually(all_stored, timeout=90, interval=0.2)
    finally:
        rest.stop.set()
        await asyncio.wait_for(task, timeout=15)


async def test_the_embedded_worker_halves_a_failing_batch_and_refuses_only_its_culprit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's in-process bus: a message that crashes processing is refused (``unprocessable``), the rest stored."""
    hub = await Hub.start(
        Settings(data_dir=tmp_path / "hub", database_url=None, redis_url=None, amqp_url=None)
    )
    worker = Worker(hub)
    task = asyncio.create_task(worker.run())
    try:
        async with unit_of_work(hub.sessionmaker) as session:
            await apply_definitions(session, definitions=[partner_definition("demo-a", [])])
        await hub.catalogue.reload()
        real_process = hub.intake.process
        culprit = "crashes-every-time"

        async def crashing(batch: list[IncomingMessage]) -> Any:
            if any(m.message_id == culprit for m in batch):
                raise RuntimeError("test: this message crashes processing")
            return await real_process(batch)

        monkeypatch.setattr(hub.intake, "process", crashing)
        messages = [delivery("demo-a.phone", good_body("demo-a")) for _ in range(7)]
        messages.insert(3, replace(messages[0], message_id=culprit))
        assert hub.memory_bus is not None
        for message in messages:
            hub.memory_bus.intake.put_nowait(message)

        async def settled() -> bool:
            async with hub.sessionmaker() as session:
                stored = (await session.scalars(select(Enquiry.message_id))).all()
                refused = (
                    await session.execute(select(IntakeRejection.message_id, IntakeRejection.code))
                ).all()
            return len(stored) == 7 and refused == [(culprit, "unprocessable")]

        await eventually(settled, timeout=30, interval=0.1)
    finally:
        worker.stop.set()
        await asyncio.wait_for(task, timeout=15)
        await hub.close()


def _raised_from(cause: BaseException, outer: Exception) -> Exception:
    """``outer`` raised ``from cause``, as the drivers wrap their errors."""
    try:
        raise outer from cause
    except Exception as exc:
        return exc


def test_an_outage_is_recognised_down_its_chain_of_causes_and_a_bad_message_is_not_one() -> None:
    """A failing batch is retried when a store is away and halved only for its content: taking an outage for a
    bad message would refuse good messages as unprocessable (the faults group found a Redis restart doing it)."""
    redis_down = _raised_from(
        ConnectionRefusedError(111, "Connect call failed"), redis.exceptions.ConnectionError("Error 111")
    )
    assert _is_storage_outage(redis_down)
    assert _is_storage_outage(_raised_from(redis_down, RuntimeError("routing the batch failed")))
    closed = sqlalchemy.exc.InterfaceError("INSERT …", {}, Exception("the underlying connection is closed"))
    assert _is_storage_outage(closed)
    assert _is_storage_outage(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))
    assert not _is_storage_outage(ValueError("a value the code did not foresee"))
    assert not _is_storage_outage(_raised_from(KeyError("x"), TypeError("a bug")))
