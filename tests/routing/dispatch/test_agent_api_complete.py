"""The agent API is complete for telephony adapters (issue 20, item 7): wrap-up and transfer, as the console."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from routing.models import Enquiry, EnquiryEvent
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.tokens import create_token
from tests.routing.dispatch.test_enquiry_endpoints import _arrive


async def test_wrap_up_then_transfer_over_the_api_with_the_consoles_rules_and_events(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
) -> None:
    owner, other = await make_partner("api-wrap", agents=1), await make_partner("api-target", agents=1)
    async with unit_of_work(hub.sessionmaker) as session:
        token = await create_token(session, role="agent", agent_id=owner.agents[0])
    me = {"Authorization": f"Bearer {token}"}
    first, second = await _arrive(hub, owner.slug), await _arrive(hub, owner.slug)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as api:
        await api.put("/api/v1/agents/me/status", json={"status": "available"}, headers=me)
        await api.post("/api/v1/agents/me/offer/accept", json={"enquiry_id": first}, headers=me)
        r = await api.post(
            "/api/v1/agents/me/complete",
            json={"enquiry_id": first, "outcome": "resolved", "wrap_up": True},
            headers=me,
        )
        assert r.status_code == 200, r.text
        # In wrap-up, as in the console: nothing offered (the second caller waits) until the agent is ready.
        assert (await api.get("/api/v1/agents/me", headers=me)).json()["status"] == "wrap_up"
        assert (await api.get("/api/v1/agents/me/offer", headers=me)).json()["offer"] is None
        await api.put("/api/v1/agents/me/status", json={"status": "available"}, headers=me)
        offer = (await api.get("/api/v1/agents/me/offer", headers=me)).json()["offer"]
        assert offer["enquiry_id"] == second

        # Transfer before accepting: refused as a problem document, nothing made.
        body = {"enquiry_id": second, "to_tenant": other.slug, "to_service": "council-tax", "notes": "rates"}
        r = await api.post("/api/v1/agents/me/transfer", json=body, headers=me)
        assert r.status_code == 409 and r.json()["code"] == "not_answered"
        await api.post("/api/v1/agents/me/offer/accept", json={"enquiry_id": second}, headers=me)
        # Another partner's team takes it only under an agreement in which that partner lends to the owner.
        r = await api.post("/api/v1/agents/me/transfer", json=body, headers=me)
        assert r.status_code == 403 and r.json()["code"] == "no_agreement", r.text
        async with unit_of_work(hub.sessionmaker) as session:
            await put_agreements(
                session,
                agreements=[
                    AgreementDefinition.model_validate(
                        {"id": f"{other.slug}-helps", "lender": other.slug, "borrower": owner.slug}
                    )
                ],
            )
        await hub.dispatcher.agreements.reload()
        r = await api.post("/api/v1/agents/me/transfer", json=body, headers=me)
        assert r.status_code == 200, r.text
        moved = r.json()
        assert moved["from_enquiry"] == second and moved["to_queue"] == f"{other.slug}/council-tax"
        assert (await api.get("/api/v1/agents/me", headers=me)).json()["status"] == "wrap_up"
        again = await api.post("/api/v1/agents/me/transfer", json=body, headers=me)
        assert (
            again.status_code == 200 and again.json()["to_enquiry"] == moved["to_enquiry"]
        )  # repeated: once
        # In wrap-up after the transfer nothing is offered; ready again, the agent is offered the next caller:
        # the transfer let go of the call in the live state (it once stayed in hand, and no call came again).
        third = await _arrive(hub, owner.slug)
        assert (await api.get("/api/v1/agents/me/offer", headers=me)).json()["offer"] is None
        await api.put("/api/v1/agents/me/status", json={"status": "available"}, headers=me)
        offer = (await api.get("/api/v1/agents/me/offer", headers=me)).json()["offer"]
        assert offer is not None and offer["enquiry_id"] == third

    async with hub.sessionmaker() as session:
        made = await session.get(Enquiry, moved["to_enquiry"])
        assert made is not None and (made.tenant_slug, made.state) == (other.slug, "queued")
        events = (
            await session.scalars(
                select(EnquiryEvent.event).where(EnquiryEvent.enquiry_id == second).order_by(EnquiryEvent.id)
            )
        ).all()
    assert events[-2:] == ["enquiry.transferred", "enquiry.completed"]
