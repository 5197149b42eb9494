"""The worker reconnects by itself after the broker drops its connection, and carries on."""

from __future__ import annotations

import asyncio
import subprocess

from hub.runtime import Hub
from hub.worker import Worker
from tests.conftest import eventually
from tests.helpers_amqp import PartnerClient, enquiry
from tests.routing.intake.test_amqp_intake import _enquiries


def _close_worker_connections(vhost: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "-s", "list_connections", "-p", vhost, "pid", "client_properties"],
        check=True,
        capture_output=True,
        text=True,
    )
    closed = 0
    for line in listed.stdout.splitlines():
        pid, _, properties = line.partition("\t")
        if "hub-worker" in properties:
            subprocess.run(
                ["rabbitmqctl", "-q", "close_connection", pid, "test: dropped on purpose"], check=True
            )
            closed += 1
    return closed


async def test_the_worker_reconnects_after_the_broker_closes_its_connection(
    hub: Hub, worker: Worker, make_partner, amqp_url: str, amqp_vhost: str
) -> None:
    partner = await make_partner(agents=0)
    await asyncio.wait_for(worker.amqp_ready.wait(), timeout=15)
    # At least ours; a worker from an earlier test may still be closing in this run's vhost.
    assert await asyncio.to_thread(_close_worker_connections, amqp_vhost) >= 1
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
