"""The routing trail, predicted waits, a callback taken and a partner's queues, over the HTTP API."""

from __future__ import annotations

import json
import uuid

import httpx

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.bus.base import IncomingMessage
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tenants.tokens import create_token
from tests.helpers_amqp import enquiry
from tests.helpers_problems import problem_fields


async def _arrive(hub: Hub, tenant: str) -> int:
    message_id = uuid.uuid4().hex
    await hub.intake.process(
        [
            IncomingMessage(
                routing_key=f"{tenant}.phone",
                body=json.dumps(enquiry(tenant)).encode(),
                message_id=message_id,
                content_type="application/json",
                type="enquiry.v1",
            )
        ]
    )
    async with hub.sessionmaker() as session:
        from sqlalchemy import select

        return int(await session.scalar(select(Enquiry.id).where(Enquiry.message_id == message_id)) or 0)


async def test_trail_wait_callback_and_queues(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    owner, other = await make_partner("chorley", agents=2), await make_partner("south-ribble", agents=1)
    async with unit_of_work(hub.sessionmaker) as session:
        tokens = {
            "supervisor": await create_token(session, role="supervisor", tenant=owner.slug),
            "partner": await create_token(session, role="partner", tenant=owner.slug),
            "stranger": await create_token(session, role="supervisor", tenant=other.slug),
            "agent": await create_token(session, role="agent", agent_id=owner.agents[0]),
            "other_agent": await create_token(session, role="agent", agent_id=owner.agents[1]),
        }
    headers = {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}
    first, second = await _arrive(hub, owner.slug), await _arrive(hub, owner.slug)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as api:
        r = await api.get(f"/api/v1/enquiries/{second}/wait", headers=headers["partner"])
        assert r.status_code == 200, r.text
        wait = r.json()
        assert (
            wait["position"] == 2 and wait["method"] == "no_agents" and wait["predicted_wait_seconds"] is None
        )

        r = await api.get(f"/api/v1/tenants/{owner.slug}/queues", headers=headers["supervisor"])
        bins = next(q for q in r.json() if q["service_code"] == "missed-bin")
        assert bins["waiting"] == 2 and bins["arrivals_per_hour"] == 4.0

        r = await api.post(
            f"/api/v1/enquiries/{second}/callback", json={"phone": "01257 1"}, headers=headers["partner"]
        )
        assert r.status_code == 200 and r.json()["follow_up"] == "callback" and r.json()["position"] == 2

        await api.put("/api/v1/agents/me/status", json={"status": "available"}, headers=headers["agent"])
        offer = (await api.get("/api/v1/agents/me/offer", headers=headers["agent"])).json()["offer"]
        assert offer["enquiry_id"] == first
        await api.post("/api/v1/agents/me/offer/accept", json={"enquiry_id": first}, headers=headers["agent"])

        r = await api.get(f"/api/v1/enquiries/{first}/trail", headers=headers["supervisor"])
        assert r.status_code == 200, r.text
        trail = r.json()
        assert [s["event"] for s in trail["steps"]] == [
            "enquiry.received",
            "enquiry.queued",
            "enquiry.offered",
            "enquiry.answered",
        ]
        routing = trail["steps"][1]["data"]["routing"]
        assert routing["rings"][0]["pool"] == owner.slug and routing["reasons"][0]["rule"] == "priority"
        assert (
            await api.get(f"/api/v1/enquiries/{first}/trail", headers=headers["agent"])
        ).status_code == 200
        for who in ("stranger", "other_agent"):
            hidden = await api.get(f"/api/v1/enquiries/{first}/trail", headers=headers[who])
            assert problem_fields(hidden) == {
                "type": "urn:hub:problem:unknown_enquiry",
                "title": "Not Found",
                "status": 404,
                "code": "unknown_enquiry",
            }
            assert hidden.json()["detail"] == f"no enquiry {first}"
        # the first caller is talking to the agent now: too late to take a callback
        late = await api.post(f"/api/v1/enquiries/{first}/callback", json={}, headers=headers["partner"])
        assert problem_fields(late) == {
            "type": "urn:hub:problem:not_waiting",
            "title": "Conflict",
            "status": 409,
            "code": "not_waiting",
        }
        assert (
            late.json()["detail"] == "that enquiry is answered: a callback is only for a caller still waiting"
        )
        r = await api.get(f"/api/v1/enquiries/{second}/trail", headers=headers["supervisor"])
        assert r.json()["steps"][-1]["event"] == "enquiry.callback_accepted"
