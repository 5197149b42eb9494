"""A customer's contacts seen across partners (issue 20, item 8) on the real services: under a data-sharing agreement
in force the agent's panel (console and agent API) shows exactly the agreed fields of the other partner's contacts
with the same person, each view audited; without one, ended or not yet started, nothing crosses; one direction when
the agreement says so; the request's scope is not widened; the supervisor's trail is unchanged; and an overflowed
call answered by a lender's agent shows the caller's history under the agreement's rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select, update

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.audit.models import AuditEntry
from plumbing.db.scope import tenant_scope
from plumbing.db.session import unit_of_work
from routing.models import Enquiry
from tenants.agreements.service import put_agreements
from tenants.agreements.sharing import DataSharingDefinition
from tenants.agreements.sharing_service import put_data_sharing
from tenants.agreements.terms import AgreementDefinition
from tenants.tokens import create_token
from tests.conftest import eventually
from tests.hub.web.conftest import customer_of, intake, make_user, settle, sign_in_client

SHARED = "customer.history_shared"


async def _share(hub: Hub, **definition: Any) -> str:
    agreement = DataSharingDefinition.model_validate(
        {"purpose": "tell residents where their enquiries stand", "signed_on": "2026-01-05"} | definition
    )
    async with unit_of_work(hub.sessionmaker) as session:
        await put_data_sharing(session, agreements=[agreement])
    return agreement.id


async def _received(hub: Hub, enquiry_id: int, at: datetime) -> str:
    """Put a past contact at a known time; returns its reference."""
    async with unit_of_work(hub.sessionmaker) as session:
        await session.execute(update(Enquiry).where(Enquiry.id == enquiry_id).values(received_at=at))
        enquiry = await session.get(Enquiry, enquiry_id)
        assert enquiry is not None
        return enquiry.reference


async def _audited(hub: Hub, enquiry_id: int) -> list[AuditEntry]:
    async with hub.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.enquiry_id == enquiry_id, AuditEntry.action == SHARED)
                    .order_by(AuditEntry.id)
                )
            ).all()
        )


def _shared_sections(html: str) -> list[str]:
    return re.findall(r'<section class="shared-history".*?</section>', html, flags=re.S)


async def test_the_panel_shows_exactly_the_agreed_fields_of_the_other_partners_contacts_under_an_agreement_in_force(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    a, b = await make_partner("share-a", agents=1), await make_partner("share-b", agents=1)
    other = await make_partner("share-c", agents=0)  # no agreement with a: never shown
    person = customer_of("Sam Shared", email="sam@example.org")
    # b's two contacts with Sam, one with somebody else; c's one with Sam.
    b1 = await intake(hub, b.slug, customer=person, text="SECRET words said to b, one")
    b2 = await intake(hub, b.slug, service="general", customer=person, text="SECRET words said to b, two")
    stranger = await intake(
        hub, b.slug, customer=customer_of("Someone Else", phone="01772 999 888", uprn="100010999999")
    )
    c1 = await intake(hub, other.slug, customer=person, text="SECRET words said to c")
    a0 = await intake(hub, a.slug, customer=person, text="an earlier contact with a")
    for done, outcome in ((b1, "resolved"), (b2, "passed_to_back_office"), (stranger, "resolved")):
        await settle(hub, done, outcome=outcome)
    await settle(hub, c1, outcome="resolved")
    await settle(hub, a0, outcome="resolved")
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (British Summer Time, UTC+1); 2 November is GMT.
    ref_b1 = await _received(hub, b1, datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    ref_b2 = await _received(hub, b2, datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    ref_c1 = await _received(hub, c1, datetime(2026, 11, 3, 10, 0, tzinfo=UTC))
    ref_a0 = await _received(hub, a0, datetime(2026, 10, 1, 9, 0, tzinfo=UTC))

    agent = a.agents[0]
    csrf = await sign_in_client(api, await make_user(hub, role="agent", agent_id=agent))
    async with unit_of_work(hub.sessionmaker) as session:
        me = {"Authorization": f"Bearer {await create_token(session, role='agent', agent_id=agent)}"}
        admin = {"Authorization": f"Bearer {await create_token(session, role='admin')}"}
    # Refusals are problem documents: nothing in hand yet; an admin is no agent handling the customer.
    r = await api.get("/api/v1/agents/me/customer", headers=me)
    assert (r.status_code, r.json()["code"]) == (404, "nothing_in_hand")
    assert r.headers["content-type"] == "application/problem+json"
    r = await api.get(f"/api/v1/agents/{agent}/customer", headers=admin)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    await hub.desk.set_status(agent, "available")
    now_in_hand = await intake(hub, a.slug, customer=person, channel="phone")
    await hub.desk.accept(agent, now_in_hand)

    # No agreement: the owner's own history only, nothing of b's or c's, and no audit of sharing.
    view = (await api.get("/api/v1/agents/me/customer", headers=me)).json()
    assert view["shared"] == [] and [h["reference"] for h in view["history"]] == [ref_a0]
    page = (await api.get("/console")).text
    assert _shared_sections(page) == [] and ref_b1 not in page and ref_c1 not in page
    assert await _audited(hub, now_in_hand) == []

    # Signed and in force (today is within 2026-01-01 .. 2099-12-31): b's contacts, four fields of each.
    agreement = await _share(
        hub,
        id=f"{a.slug}-joined-up",
        parties=[a.slug, b.slug],
        fields=["reference", "service", "date", "status"],
        starts="2026-01-01",
        ends="2099-12-31",
    )
    r = await api.get("/api/v1/agents/me/customer", headers=me)
    assert r.status_code == 200, r.text
    assert r.json()["shared"] == [
        {
            "partner": b.slug,
            "partner_name": f"Test partner {b.slug}",
            "agreement": agreement,
            "fields": ["reference", "service", "date", "status"],
            "contacts": [  # newest first; the stranger's contact is not Sam's
                {
                    "reference": ref_b2,
                    "service": "General enquiries",
                    "date": "2026-11-02",
                    "status": "completed",
                },
                {"reference": ref_b1, "service": "Missed bin", "date": "2026-07-01", "status": "completed"},
            ],
        }
    ]
    assert "SECRET" not in r.text and "passed_to_back_office" not in r.text and ref_c1 not in r.text
    assert [h["reference"] for h in r.json()["history"]] == [ref_a0]  # the owner's own, as before

    page = (await api.get("/console")).text
    (section,) = _shared_sections(page)
    assert f'data-partner="{b.slug}"' in section and f"Their contacts with Test partner {b.slug}" in section
    assert re.findall(r'<td data-field="(\w+)"', section) == ["reference", "service", "date", "status"] * 2
    assert f'<td data-field="reference">{ref_b2}</td>' in section and "2026-07-01" in section
    assert "SECRET" not in page and "Passed to back office" not in section and ref_c1 not in page
    assert f"/console/enquiries/{b1}" not in page  # a shared contact is never a link into b's records

    # Each view audited: one entry per view (API, then console), owned by b, naming viewer, customer, agreement.
    audit = await _audited(hub, now_in_hand)
    assert len(audit) == 2
    assert [(e.detail["page"], e.owner_tenant, e.actor_tenant, e.agent_id) for e in audit] == [
        ("api", b.slug, a.slug, agent),
        ("console", b.slug, a.slug, agent),
    ]
    assert {
        (e.detail["agreement"], tuple(e.detail["partners"]), tuple(e.detail["contacts"])) for e in audit
    } == {(agreement, tuple(sorted([a.slug, b.slug])), (b2, b1))}
    async with hub.sessionmaker() as session:
        customer_id = await session.scalar(select(Enquiry.customer_id).where(Enquiry.id == now_in_hand))
    assert {e.customer_id for e in audit} == {customer_id}
    assert {tuple(e.fields) for e in audit} == {("date", "reference", "service", "status")}
    # b, whose contacts they were, reads who looked, under its own scope.
    with tenant_scope(b.slug):
        async with hub.sessionmaker() as session:
            seen_by_b = await session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == SHARED, AuditEntry.enquiry_id == now_in_hand)
            )
    assert seen_by_b == 2

    # The request's scope was not widened: b's enquiry stays out of a's agent's reach.
    assert (await api.get(f"/console/enquiries/{b1}")).status_code == 404

    # The supervisor's trail is unchanged by the agreement.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub.test"
    ) as sup:
        await sign_in_client(sup, await make_user(hub, role="supervisor", tenant=a.slug))
        trail = await sup.get(f"/supervisor/enquiries/{now_in_hand}")
        assert trail.status_code == 200 and ref_b1 not in trail.text and ref_b2 not in trail.text
    assert len(await _audited(hub, now_in_hand)) == 2

    # Ended (31 January 2026), then not yet started (2099): nothing crosses, nothing more audited.
    for starts, ends in (("2026-01-01", "2026-01-31"), ("2099-01-01", "2099-12-31")):
        await _share(
            hub, id=agreement, parties=[a.slug, b.slug], fields=["reference"], starts=starts, ends=ends
        )
        assert (await api.get("/api/v1/agents/me/customer", headers=me)).json()["shared"] == []
        assert _shared_sections((await api.get("/console")).text) == []
    assert len(await _audited(hub, now_in_hand)) == 2

    # One direction: a shares with b, b sees. a's agent sees nothing of b's; b's agent sees a's, five fields,
    # the resident's own words among them because this agreement names them.
    await _share(
        hub,
        id=agreement,
        parties=[a.slug, b.slug],
        shares=[a.slug],
        sees=[b.slug],
        fields=["reference", "channel", "status", "outcome", "text"],
        starts="2026-01-01",
        ends="2099-12-31",
    )
    assert (await api.get("/api/v1/agents/me/customer", headers=me)).json()["shared"] == []
    await api.post("/console/complete", data={"enquiry_id": now_in_hand, "outcome": "resolved", "csrf": csrf})
    ref_now = await _received(hub, now_in_hand, datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    b_agent = b.agents[0]
    async with unit_of_work(hub.sessionmaker) as session:
        as_b = {"Authorization": f"Bearer {await create_token(session, role='agent', agent_id=b_agent)}"}
    await hub.desk.set_status(b_agent, "available")
    at_b = await intake(hub, b.slug, customer=person, channel="phone")
    await hub.desk.accept(b_agent, at_b)
    view = (await api.get("/api/v1/agents/me/customer", headers=as_b)).json()
    assert view["shared"] == [
        {
            "partner": a.slug,
            "partner_name": f"Test partner {a.slug}",
            "agreement": agreement,
            "fields": ["reference", "channel", "status", "outcome", "text"],
            "contacts": [
                {  # 1 December
                    "reference": ref_now,
                    "channel": "phone",
                    "status": "completed",
                    "outcome": "resolved",
                    "text": "My bin was not emptied",
                },
                {  # 1 October
                    "reference": ref_a0,
                    "channel": "web",
                    "status": "completed",
                    "outcome": "resolved",
                    "text": "an earlier contact with a",
                },
            ],
        }
    ]
    # b's own history is b's own (its two earlier contacts with Sam), unchanged by the agreement.
    assert [h["reference"] for h in view["history"]] == [ref_b2, ref_b1]
    (entry,) = await _audited(hub, at_b)
    assert (entry.owner_tenant, entry.actor_tenant, entry.detail["contacts"]) == (
        a.slug,
        b.slug,
        [now_in_hand, a0],
    )


async def test_an_overflowed_call_answered_by_a_lenders_agent_shows_the_owners_history_under_the_agreements(
    hub: Hub, make_partner
) -> None:
    owner = await make_partner("journey-owner", agents=0)
    lender = await make_partner("journey-lender", agents=1)
    third = await make_partner("journey-third", agents=0)
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {"id": f"{lender.slug}-backs-up", "lender": lender.slug, "borrower": owner.slug}
                    | {"visible_fields": ["name", "phone"]}
                )
            ],
        )
        me = {
            "Authorization": f"Bearer {await create_token(session, role='agent', agent_id=lender.agents[0])}"
        }
    await hub.dispatcher.agreements.reload()
    person = customer_of("Jo Journey", email="jo@example.org")
    earlier = await intake(hub, owner.slug, customer=person, text="SECRET words said to the owner")
    at_third = await intake(hub, third.slug, customer=person)
    await settle(hub, earlier, outcome="passed_to_back_office")
    await settle(hub, at_third, outcome="resolved")
    ref_earlier = await _received(hub, earlier, datetime(2026, 9, 15, 8, 0, tzinfo=UTC))
    # the third partner shares with the lender too: but only the owner may let its customer be matched
    await _share(
        hub,
        id=f"{third.slug}-lender",
        parties=[third.slug, lender.slug],
        fields=["reference"],
        starts="2026-01-01",
        ends="2099-12-31",
    )

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub.test"
    ) as api:
        await api.put("/api/v1/agents/me/status", json={"status": "available"}, headers=me)
        call = await intake(hub, owner.slug, customer=person, channel="phone")
        offer = await eventually(lambda: _offered(hub, api, me), timeout=15)
        assert offer["enquiry_id"] == call
        r = await api.post("/api/v1/agents/me/offer/accept", json={"enquiry_id": call}, headers=me)
        assert r.status_code == 200, r.text

        # Overflow alone: the agreed contact fields, and none of the owner's history.
        view = (await api.get("/api/v1/agents/me/customer", headers=me)).json()
        assert view["restricted"] is True
        assert view["contact"] == {"name": "Jo Journey", "phone": "01257 000 111"}
        assert view["history"] is None and "history" in view["withheld"] and view["shared"] == []

        # The owner signs a one-way data-sharing agreement with the lender: its contacts, three fields.
        agreement = await _share(
            hub,
            id=f"{owner.slug}-to-lender",
            parties=[owner.slug, lender.slug],
            shares=[owner.slug],
            sees=[lender.slug],
            fields=["reference", "service", "status"],
            starts="2026-01-01",
            ends="2099-12-31",
        )
        r = await api.get("/api/v1/agents/me/customer", headers=me)
        view = r.json()
        assert view["shared"] == [
            {
                "partner": owner.slug,
                "partner_name": f"Test partner {owner.slug}",
                "agreement": agreement,
                "fields": ["reference", "service", "status"],
                # the call in hand is not a past contact; the third partner's record is never matched
                "contacts": [{"reference": ref_earlier, "service": "Missed bin", "status": "completed"}],
            }
        ]
        assert view["history"] is None and "history" not in view["withheld"]
        assert view["contact"] == {"name": "Jo Journey", "phone": "01257 000 111"}
        assert "SECRET" not in r.text and "jo@example.org" not in r.text and "100010380000" not in r.text
    (entry,) = await _audited(hub, call)
    assert (entry.owner_tenant, entry.actor_tenant, entry.detail["agreement"], entry.detail["contacts"]) == (
        owner.slug,
        lender.slug,
        agreement,
        [earlier],
    )


async def _offered(hub: Hub, api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any] | None:
    await hub.dispatcher.tick()  # the lender's ring opens on the dispatcher's tick, as the worker runs it
    offer: dict[str, Any] | None = (await api.get("/api/v1/agents/me/offer", headers=headers)).json()["offer"]
    return offer
