"""Callbacks over the HTTP API (issue 20, items 5 and 7): the worklist, attempts, retries and the figures."""

from __future__ import annotations

import httpx

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token
from tests.routing.dispatch.test_enquiry_endpoints import _arrive


async def test_a_telephony_adapter_rings_a_callback_misses_and_sees_it_due_again(
    hub: Hub,
    make_partner,  # type: ignore[no-untyped-def]
) -> None:
    owner = await make_partner("cb-api", agents=1)
    async with unit_of_work(hub.sessionmaker) as session:
        agent_token = await create_token(session, role="agent", agent_id=owner.agents[0])
        partner_token = await create_token(session, role="partner", tenant=owner.slug)
    agent = {"Authorization": f"Bearer {agent_token}"}
    partner = {"Authorization": f"Bearer {partner_token}"}
    caller = await _arrive(hub, owner.slug)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as api:
        r = await api.post(
            f"/api/v1/enquiries/{caller}/callback", json={"phone": "07700 900123"}, headers=partner
        )
        assert r.status_code == 200, r.text
        await api.put("/api/v1/agents/me/status", json={"status": "available"}, headers=agent)
        offer = (await api.get("/api/v1/agents/me/offer", headers=agent)).json()["offer"]
        assert offer["enquiry_id"] == caller and offer["callback"] is True
        # The number the caller asked to be rung on, not the one they rang from (01257 000000).
        assert offer["callback_number"] == "07700 900123"
        assert offer["callback_reason"] == "Missed bin: My bin was not emptied"

        # Ringing before accepting is refused, as a problem document.
        r = await api.post(
            "/api/v1/agents/me/callback-attempts",
            json={"enquiry_id": caller, "result": "no_answer"},
            headers=agent,
        )
        assert r.status_code == 409 and r.json()["code"] == "not_answered"

        await api.post("/api/v1/agents/me/offer/accept", json={"enquiry_id": caller}, headers=agent)
        worklist = (await api.get("/api/v1/agents/me/callbacks", headers=agent)).json()["items"]
        assert [(i["enquiry_id"], i["state"], i["number"]) for i in worklist] == [
            (caller, "answered", "07700 900123")
        ]
        r = await api.post(
            "/api/v1/agents/me/callback-attempts",
            json={"enquiry_id": caller, "result": "no_answer"},
            headers=agent,
        )
        assert r.status_code == 200, r.text
        assert r.json()["attempt"] == 1 and r.json()["next_step"] == "retry"
        [item] = (await api.get("/api/v1/agents/me/callbacks", headers=agent)).json()["items"]
        assert (item["state"], item["attempts"], item["retry_at"]) == (
            "waiting_retry",
            1,
            r.json()["retry_at"],
        )
        assert (await api.get("/api/v1/agents/me", headers=agent)).json()["status"] == "available"

        r = await api.get(
            f"/api/v1/tenants/{owner.slug}/callbacks/figures",
            params={"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
            headers=partner,
        )
        assert r.status_code == 200, r.text
        counted = r.json()
        assert (counted["callbacks_taken"], counted["attempts_total"], counted["kept"]) == (1, 1, 0)
        assert counted["attempts"]["no_answer"] == 1

        # The committee's callback figures per service, kept as the events landed (docs/figures.md): the
        # callback asked for over the API, one attempt rung and missed, put back for a retry.
        r = await api.get(
            f"/api/v1/tenants/{owner.slug}/figures/callbacks",
            params={"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"},
            headers=partner,
        )
        assert r.status_code == 200, r.text
        (bins,) = r.json()["services"]
        assert bins["service_code"] == "missed-bin"
        assert [bins[k] for k in ("requested", "attempted", "answered", "missed", "retried", "given_up")] == [
            1,
            1,
            0,
            1,
            1,
            0,
        ]
        assert bins["time_to_callback_seconds"] is None and r.json()["total"]["requested"] == 1
