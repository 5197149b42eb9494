"""Prometheus /metrics: queue depth, oldest wait, agents by state, intake and rejections, labelled by partner."""

from __future__ import annotations

import re
import secrets

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

    token = secrets.token_urlsafe(32)
    hub.settings.metrics_token = token
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as client:
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    text = response.text
    assert sample(text, "hub_queue_depth", tenant=partner.slug, service="missed-bin") == 1
    assert (sample(text, "hub_oldest_wait_seconds", tenant=partner.slug) or 0) >= 0
    assert sample(text, "hub_agents", tenant=partner.slug, status="available") == 1
    assert sample(text, "hub_agents", tenant=partner.slug, status="offline") == 1
    assert sample(text, "hub_enquiries_received_total", tenant=partner.slug) == 2
    assert sample(text, "hub_intake_rejections_total", tenant=partner.slug) == 1


async def test_partner_figures_need_the_metrics_token_or_a_public_listener(hub: Hub, make_partner) -> None:
    partner = await make_partner(agents=0)
    await publish_direct(hub, partner.slug)
    token = secrets.token_urlsafe(32)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as client:
        unset = await client.get("/metrics")  # neither setting: refused, saying which to set
        hub.settings.metrics_token = token
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 43})
        partner_token = await client.get("/metrics", headers={"Authorization": f"Bearer {token[:-1]}"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        hub.settings.metrics_token, hub.settings.metrics_public = None, True
        internal = await client.get("/metrics")
    assert unset.status_code == 403 and unset.json()["code"] == "metrics_not_configured"
    assert partner.slug not in unset.text
    for refused in (anonymous, wrong, partner_token):
        assert refused.status_code == 401 and partner.slug not in refused.text
    assert right.status_code == 200 and sample(right.text, "hub_queue_depth", tenant=partner.slug) == 1
    assert internal.status_code == 200 and sample(internal.text, "hub_queue_depth", tenant=partner.slug) == 1
