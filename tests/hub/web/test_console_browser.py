"""The console and the floor in a real browser (Debian's Chromium), on the real services.

Kept to two journeys: the machine has two cores shared with others, and each journey covers a lot.
"""

from __future__ import annotations

import re

from playwright.async_api import expect
from sqlalchemy import select, update

from figures.floor import read_floor
from hub.accounts.models import User, WebSession
from hub.runtime import Hub
from hub.worker import Worker
from plumbing.audit.models import AuditEntry
from plumbing.db.session import unit_of_work
from routing.dispatch.presence import change_status
from routing.events import EnquiryRef, NewEvent, record_events
from routing.models import Enquiry, EnquiryEvent
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.models import Agent, Tenant
from tests.conftest import eventually
from tests.helpers_amqp import PartnerClient, enquiry
from tests.hub.web.conftest import customer_of, intake, make_user, settle, sign_in_page


async def test_an_agent_takes_a_call_published_over_amqp_while_the_supervisor_watches(
    hub: Hub, web: str, new_page, make_partner, amqp_url: str, worker: Worker
) -> None:
    partner = await make_partner(agents=1)
    agent_id = partner.agents[0]
    agent_login = await make_user(hub, role="agent", agent_id=agent_id)
    supervisor_login = await make_user(hub, role="supervisor", tenant=partner.slug)
    # The same person rang last week: passed to the back office (still open), garden waste unpaid.
    person = customer_of("Pat Resident", email="pat@example.org")
    earlier = await intake(
        hub,
        partner.slug,
        service="general",
        customer={"name": "Pat Resident", "email": "PAT@example.org"},
        attributes={"garden_waste_renewal": "unpaid"},
        text="Garden waste bin renewal",
    )
    await settle(hub, earlier, outcome="passed_to_back_office")
    async with hub.sessionmaker() as session:
        earlier_reference = (await session.get(Enquiry, earlier)).reference  # type: ignore[union-attr]

    floor = await new_page()
    await sign_in_page(floor, web, supervisor_login)
    await expect(floor.locator("h1")).to_have_text(f"Test partner {partner.slug}")
    await expect(floor.locator("#waiting")).to_have_text("0")

    console = await new_page()
    await sign_in_page(console, web, agent_login)
    await expect(console.locator("#status")).to_have_text("Offline")
    await console.get_by_role("button", name="Available").click()
    await expect(console.locator("#status")).to_have_text("Available")
    await expect(floor.locator("#agents-available")).to_have_text("1")

    await eventually(worker.amqp_ready.is_set, timeout=30)
    client = PartnerClient(amqp_url)
    try:
        client.publish(f"{partner.slug}.phone", enquiry(partner.slug, customer=person))
    finally:
        client.close()

    # The offer arrives by itself, with a countdown; the supervisor sees one contact waiting.
    offer = console.locator("#offer")
    await expect(offer).to_be_visible(timeout=20_000)
    await expect(console.locator("#offer-service")).to_have_text("Missed bin")
    await expect(console.locator("#offer-countdown")).to_have_text(re.compile(r"^\d+ s$"))
    await expect(floor.locator("#waiting")).to_have_text("1")

    await console.get_by_role("button", name="Accept").click()
    panel = console.locator("#enquiry")
    await expect(panel).to_be_visible()
    await expect(console.locator("#status")).to_have_text("On a call")
    await expect(console.locator("#customer")).to_contain_text("Pat Resident")
    await expect(console.locator("#customer")).to_contain_text("01257 000 111")
    await expect(console.locator("#history .history-item")).to_have_count(1)
    await expect(console.locator("#history")).to_contain_text(earlier_reference)
    await expect(console.locator("#prompts li[data-rule=garden-waste-unpaid]")).to_be_visible()
    await expect(console.locator("#prompts li[data-rule=open-case]")).to_contain_text(earlier_reference)
    await expect(console.locator("#script li").first).to_be_visible()
    enquiry_id = int(await panel.get_attribute("data-enquiry") or 0)

    await expect(floor.locator("#waiting")).to_have_text("0")
    await expect(floor.locator("#answered-today")).to_have_text("1")
    await expect(floor.locator(f"tr[data-agent={agent_id}] .status")).to_have_text("On a call")

    # The customer was shown, so the view was audited: who, which fields, which enquiry.
    async with hub.sessionmaker() as session:
        audits = (await session.scalars(select(AuditEntry).where(AuditEntry.enquiry_id == enquiry_id))).all()
    assert audits and audits[0].username == agent_login[0] and audits[0].agent_id == agent_id
    assert {"name", "phone", "email", "uprn", "history"} <= set(audits[0].fields)

    await console.select_option("select[name=outcome]", "resolved")
    await console.get_by_role("button", name="Complete").click()
    await expect(console.locator("#status")).to_have_text("Wrap-up")
    await expect(console.locator("#enquiry")).to_have_count(0)
    await expect(floor.locator(f"tr[data-agent={agent_id}] .status")).to_have_text("Wrap-up")
    await console.get_by_role("button", name="Ready for the next").click()
    await expect(console.locator("#status")).to_have_text("Available")
    await expect(floor.locator(f"tr[data-agent={agent_id}] .status")).to_have_text("Available")
    await expect(floor.locator("#service-level")).to_have_text("100.0 %")

    async with hub.sessionmaker() as session:
        done = await session.get(Enquiry, enquiry_id)
        assert done is not None and done.state == "completed" and done.outcome == "resolved"
        assert done.customer_id is not None
        events = (
            await session.scalars(select(EnquiryEvent.event).where(EnquiryEvent.enquiry_id == enquiry_id))
        ).all()
    assert events.count("enquiry.answered") == 1 and events.count("enquiry.completed") == 1

    # The session ends on the server (signed out elsewhere, or expired): the console says so at once.
    async with unit_of_work(hub.sessionmaker) as session:
        user_id = await session.scalar(select(User.id).where(User.username == agent_login[0]))
        await session.execute(
            update(WebSession).where(WebSession.user_id == user_id).values(ended_at=hub.dispatcher.clock())
        )
    await expect(console).to_have_url(re.compile(r"/sign-in\?notice=session_expired"))
    await expect(console.locator(".notice")).to_contain_text("Your session has expired")


async def test_a_lenders_agent_sees_only_what_the_agreement_allows_and_the_view_is_audited(
    hub: Hub, web: str, new_page, make_partner
) -> None:
    owner = await make_partner("owner", agents=0)
    lender = await make_partner("lender", agents=1)
    agent_id = lender.agents[0]
    login = await make_user(hub, role="agent", agent_id=agent_id)
    person = customer_of("Robin Private", email="robin@example.org", address="9 Secret Lane")
    past = await intake(
        hub, owner.slug, service="council-tax", customer=person, attributes={"account_number": "CT-1"}
    )
    await settle(hub, past, outcome="passed_to_back_office")
    overflowed = await intake(
        hub,
        owner.slug,
        customer=person,
        attributes={"garden_waste_renewal": "unpaid", "account_number": "CT-1"},
    )

    # An agreement lets the lender's agents see the name only; hand the enquiry over under it as the
    # dispatcher would (answered, handler and agreement recorded, the answer in the event log).
    agreement_id = f"{lender.slug}-lends-{owner.slug}"
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {
                        "id": agreement_id,
                        "lender": lender.slug,
                        "borrower": owner.slug,
                        "services": "all",
                        "conditions": {"waited_at_least_seconds": 60},
                        "visible_fields": ["name"],
                    }
                )
            ],
        )
    await hub.live.withdraw(overflowed)
    async with unit_of_work(hub.sessionmaker) as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        await change_status(session, agent, "busy", at=hub.dispatcher.clock(), reason="accepted")
        await session.execute(
            update(Enquiry)
            .where(Enquiry.id == overflowed)
            .values(state="answered", agent_id=agent_id, handler_slug=lender.slug, agreement_id=agreement_id)
        )
        taken = await session.get(Enquiry, overflowed)
        assert taken is not None
        await record_events(
            session,
            [
                NewEvent(
                    EnquiryRef.of(taken),
                    "enquiry.answered",
                    hub.dispatcher.clock(),
                    agent_id=agent_id,
                    handler=lender.slug,
                )
            ],
        )

    console = await new_page()
    await sign_in_page(console, web, login)
    await expect(console.locator("#enquiry")).to_be_visible()
    await expect(console.locator("#restricted")).to_be_visible()
    await expect(console.locator("#customer [data-field=name]")).to_have_text("Robin Private")
    await expect(console.locator("#withheld")).to_contain_text("phone")
    page_text = await console.content()
    for secret in ("01257 000 111", "robin@example.org", "9 Secret Lane", "100010380000", "CT-1", "unpaid"):
        assert secret not in page_text, f"{secret!r} leaked to the lender's agent"
    await expect(console.locator("#history")).to_have_count(0)
    await expect(console.locator("#prompts")).to_have_count(0)

    # Another of the owner's enquiries, by id: not found, and nothing about it shown.
    await console.goto(f"{web}/console/enquiries/{past}")
    await expect(console.locator("#error-message")).to_have_text("There is no such enquiry for you to see.")
    assert "Robin" not in await console.content()

    async with hub.sessionmaker() as session:
        audit = (await session.scalars(select(AuditEntry).where(AuditEntry.enquiry_id == overflowed))).all()
        assert len(audit) == 1
        assert audit[0].fields == ["name"]
        assert audit[0].actor_tenant == lender.slug and audit[0].owner_tenant == owner.slug
        assert {"phone", "email", "uprn", "address", "attributes", "history"} <= set(
            audit[0].detail["withheld"]
        )
        assert not (await session.scalars(select(AuditEntry).where(AuditEntry.enquiry_id == past))).all()
        # Overflow shows on both partners' floors.
        owner_row, lender_row = await session.get(Tenant, owner.slug), await session.get(Tenant, lender.slug)
        assert owner_row is not None and lender_row is not None
        assert (await read_floor(session, tenant=owner_row, now=hub.dispatcher.clock())).overflow_out == 1
        assert (await read_floor(session, tenant=lender_row, now=hub.dispatcher.clock())).overflow_in == 1

    # Wrapped up, the enquiry is no longer the lender's to see.
    await console.goto(f"{web}/console")
    await console.get_by_role("button", name="Complete").click()
    await expect(console.locator("#status")).to_have_text("Wrap-up")
    await console.goto(f"{web}/console/enquiries/{overflowed}")
    await expect(console.locator("#error-message")).to_be_visible()
