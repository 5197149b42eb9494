"""Prometheus /metrics: queue depth, oldest wait, agents by state, intake and rejections, labelled by partner."""

from __future__ import annotations

import re

import httpx

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from tests.routing.dispatch.test_offers import publish_direct


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_are_labelled_by_partner(hub: Hub, make_partner) -> None:
    partner = await make_partner(agents=2)
    await publish_direct(hub, partner.slug)
    await publish_direct(hub, partner.slug)
    await hub.desk.set_status(partner.agents[0], "available")  # takes one of the two
    bad = IncomingMessage(
        routing_key=f"{partner.slug}.phone", body=b"{", message_id="bad-1", type="enquiry.v1"
    )
    await hub.intake.process([bad])

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert sample(text, "hub_queue_depth", tenant=partner.slug, service="missed-bin") == 1
    assert (sample(text, "hub_oldest_wait_seconds", tenant=partner.slug) or 0) >= 0
    assert sample(text, "hub_agents", tenant=partner.slug, status="available") == 1
    assert sample(text, "hub_agents", tenant=partner.slug, status="offline") == 1
    assert sample(text, "hub_enquiries_received_total", tenant=partner.slug) == 2
    assert sample(text, "hub_intake_rejections_total", tenant=partner.slug) == 1
