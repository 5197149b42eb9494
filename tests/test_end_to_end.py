"""The spine end to end: a partner publishes with pika, `hub worker` (a real process) takes it in, an agent
works it through the HTTP API, and the events on hub.events and the metrics tell the same story."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pika
import pytest

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from tenants.tokens import create_token
from tests.conftest import eventually
from tests.helpers_amqp import PartnerClient, enquiry


@pytest.fixture
def worker_process(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "HUB_DATABASE_URL": settings.database_url or "",
        "HUB_REDIS_URL": settings.redis_url or "",
        "HUB_AMQP_URL": settings.amqp_url or "",
        "HUB_REDIS_PREFIX": settings.redis_prefix,
        "HUB_INTAKE_BATCH_WAIT_MS": "2",
    }
    process = subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], env=env, stderr=subprocess.PIPE)
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


async def test_an_enquiry_flows_from_partner_to_agent_and_into_the_figures(
    hub: Hub, make_partner, amqp_url: str, worker_process: subprocess.Popen[bytes], api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=1)
    agent = partner.agents[0]
    async with unit_of_work(hub.sessionmaker) as session:
        agent_token = await create_token(session, role="agent", agent_id=agent)
        committee_token = await create_token(session, role="committee", tenant=partner.slug)
    as_agent = {"Authorization": f"Bearer {agent_token}"}

    client = PartnerClient(amqp_url)
    try:
        # The worker declares the topology; publish once it is consuming.
        await eventually(lambda: _worker_consuming(client), timeout=20)
        started = datetime.now(UTC)
        message_id = client.publish(f"{partner.slug}.phone", enquiry(partner.slug))

        # No agent available yet: the enquiry waits. Then the agent goes available and gets the offer.
        response = await api.put("/api/v1/agents/me/status", json={"status": "available"}, headers=as_agent)
        assert response.status_code == 200, response.text

        async def offered() -> dict | None:  # type: ignore[type-arg]
            r = await api.get("/api/v1/agents/me/offer", headers=as_agent)
            assert r.status_code == 200, r.text
            return r.json()["offer"]

        offer = await eventually(offered, timeout=20)
        assert offer["owner"] == partner.slug and offer["service_code"] == "missed-bin"

        r = await api.post(
            "/api/v1/agents/me/offer/accept", json={"enquiry_id": offer["enquiry_id"]}, headers=as_agent
        )
        assert r.status_code == 200, r.text
        r = await api.get("/api/v1/agents/me", headers=as_agent)
        assert r.json()["status"] == "busy" and r.json()["current_enquiry_id"] == offer["enquiry_id"]
        r = await api.post(
            "/api/v1/agents/me/complete",
            json={"enquiry_id": offer["enquiry_id"], "outcome": "resolved"},
            headers=as_agent,
        )
        assert r.status_code == 200, r.text
        assert (await api.get("/api/v1/agents/me", headers=as_agent)).json()["status"] == "available"

        # Every step was announced on hub.events (the API's events go out through the worker's relay).
        events: list = []

        async def all_events() -> bool:
            events.extend(e.json() for e in client.events())
            # Ours: other tests' events still leaving their outbox may come through this vhost too.
            return any(
                e["event"] == "enquiry.completed" and e.get("message_id") == message_id for e in events
            )

        await eventually(all_events, timeout=20)
        # The satisfaction survey invitation is sampled at random, so it is left out of the sequence.
        mine = [
            e for e in events if e.get("message_id") == message_id and e["event"] != "enquiry.survey_invited"
        ]
        assert [e["event"] for e in mine] == [
            "enquiry.received",
            "enquiry.queued",
            "enquiry.offered",
            "enquiry.answered",
            "enquiry.completed",
        ]
        assert all(e["reference"] == offer["reference"] for e in mine)
        assert mine[2]["agent_id"] == agent and mine[2]["handler"] == partner.slug
        assert mine[4]["outcome"] == "resolved"
    finally:
        client.close()

    # The figures: one offered, one answered; answered after the agent went available, so its wait is real.
    r = await api.get(
        f"/api/v1/tenants/{partner.slug}/metrics",
        params={
            "from": (started - timedelta(minutes=1)).isoformat(),
            "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        },
        headers={"Authorization": f"Bearer {committee_token}"},
    )
    assert r.status_code == 200, r.text
    figures = r.json()
    assert figures["offered"] == 1 and figures["answered"] == 1 and figures["abandoned"] == 0
    assert figures["service_level"] == 1.0  # answered within 20 s of queueing
    assert 0 < figures["asa_seconds"] < 20
    assert worker_process.poll() is None, "the worker is still running"


def _worker_consuming(client: PartnerClient) -> bool:
    """The worker has declared and bound everything and is reading ``hub.intake``.

    (The queue alone exists a moment before its binding: a publish then would be unroutable.)
    """
    probe = client.connection.channel()
    try:
        consumers: int = probe.queue_declare("hub.intake", passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return False  # the broker closed only the probe channel
    probe.close()
    return consumers > 0
