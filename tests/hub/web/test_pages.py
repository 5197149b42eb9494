"""The pages' refusals over HTTP (no browser): lockout, expired sessions, other partners' ids, stale and
repeated actions, form tokens, bad input — a clear message, nothing changed twice, nothing leaked, no 500."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from hub.accounts.models import WebSession
from hub.runtime import Hub
from plumbing.audit.models import AuditEntry
from plumbing.audit.service import record
from plumbing.db.session import unit_of_work
from routing.models import Enquiry, EnquiryEvent
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.models import Service
from tests.hub.web.conftest import customer_of, intake, make_user, sign_in_client


def notice(response: httpx.Response) -> str | None:
    location = response.headers.get("location", "")
    return location.split("notice=", 1)[1].split("&")[0] if "notice=" in location else None


async def test_five_failures_lock_the_account_for_fifteen_minutes_known_or_not(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=1)
    username, password = await make_user(hub, role="agent", agent_id=partner.agents[0])
    for attempt in range(4):
        r = await api.post("/sign-in", data={"username": username, "password": f"wrong-{attempt}"})
        assert r.status_code == 401 and "do not match" in r.text
    r = await api.post("/sign-in", data={"username": username, "password": "wrong-5"})
    assert r.status_code == 423 and "locked until" in r.text
    # Locked: even the right password is refused, with the same clear message, and no session made.
    r = await api.post("/sign-in", data={"username": username.upper(), "password": password})
    assert (
        r.status_code == 423
        and "locked until" in r.text
        and "hub_session" not in r.headers.get("set-cookie", "")
    )
    # An unknown username locks the same way, so lockout tells nobody which usernames exist.
    for _ in range(5):
        r = await api.post("/sign-in", data={"username": "nobody-" + username, "password": "x"})
    assert r.status_code == 423

    real_clock = hub.dispatcher.clock
    hub.dispatcher.clock = lambda: real_clock() + timedelta(minutes=16)
    try:
        r = await api.post("/sign-in", data={"username": username, "password": password})
        assert r.status_code == 303 and r.headers["location"] == "/console"
        assert (
            "httponly" in r.headers["set-cookie"].lower()
            and "samesite=lax" in r.headers["set-cookie"].lower()
        )
    finally:
        hub.dispatcher.clock = real_clock


async def test_an_expired_or_ended_session_is_sent_to_sign_in_and_changes_nothing(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=1)
    agent_id = partner.agents[0]
    login = await make_user(hub, role="agent", agent_id=agent_id)
    assert (await api.get("/console")).headers["location"].startswith("/sign-in?notice=sign_in")

    csrf = await sign_in_client(api, login)
    assert (await api.get("/console")).status_code == 200
    async with unit_of_work(hub.sessionmaker) as session:
        await session.execute(
            update(WebSession).values(expires_at=hub.dispatcher.clock() - timedelta(seconds=1))
        )

    r = await api.post("/console/status", data={"status": "available", "csrf": csrf})
    assert r.status_code == 303 and notice(r) == "session_expired"
    assert "hub_session" not in api.cookies  # the dead cookie is cleared
    assert (await hub.desk.view(agent_id)).status == "offline"
    page = await api.get("/sign-in?notice=session_expired")
    assert "Your session has expired" in page.text
    # Live streams and fetches get a 401 to act on rather than a page.
    r = await api.get("/supervisor/floor", headers={"X-Hub-Fetch": "1"})
    assert r.status_code == 401

    # Signing out ends the session on the server, not just in the browser.
    csrf = await sign_in_client(api, login)
    cookie = api.cookies.get("hub_session")
    r = await api.post("/sign-out", data={"csrf": csrf})
    assert r.status_code == 303 and notice(r) == "signed_out"
    api.cookies.set("hub_session", cookie or "", domain="hub.test")
    assert notice(await api.get("/console")) == "session_expired"

    # An idle hour ends a session too.
    await sign_in_client(api, login)
    real_clock = hub.dispatcher.clock
    hub.dispatcher.clock = lambda: real_clock() + timedelta(hours=1, minutes=1)
    try:
        assert notice(await api.get("/console")) == "session_expired"
    finally:
        hub.dispatcher.clock = real_clock


async def test_another_partners_enquiry_agent_or_floor_is_not_found_and_nothing_leaks(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    mine, theirs = await make_partner(agents=1), await make_partner(agents=1)
    secret_name = "Quentin Elsewhere"
    their_enquiry = await intake(hub, theirs.slug, customer=customer_of(secret_name))
    my_enquiry = await intake(hub, mine.slug, customer=customer_of("Mine Resident"))

    agent = await make_user(hub, role="agent", agent_id=mine.agents[0])
    csrf = await sign_in_client(api, agent)
    r = await api.get(f"/console/enquiries/{their_enquiry}")
    assert r.status_code == 404 and secret_name not in r.text
    for bad in ("abc", "-1", "99999999999999999999999", "0"):
        assert (await api.get(f"/console/enquiries/{bad}")).status_code == 404
    r = await api.get(f"/console/enquiries/{my_enquiry}")
    assert r.status_code == 200 and "Mine Resident" in r.text
    for action in ("accept", "reject"):
        r = await api.post(f"/console/offer/{action}", data={"enquiry_id": their_enquiry, "csrf": csrf})
        assert r.status_code == 303 and notice(r) == "stale_offer"
    r = await api.post(
        "/console/complete", data={"enquiry_id": their_enquiry, "outcome": "resolved", "csrf": csrf}
    )
    assert notice(r) == "not_yours"
    r = await api.post(
        "/console/transfer",
        data={"enquiry_id": their_enquiry, "target": f"{mine.slug}/general", "csrf": csrf},
    )
    assert notice(r) == "not_yours"
    async with hub.sessionmaker() as session:
        assert (await session.get(Enquiry, their_enquiry)).state == "queued"  # type: ignore[union-attr]
        assert (
            await session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.enquiry_id == their_enquiry)
            )
            == 0
        )
    # An agent has no floor.
    assert (await api.get("/supervisor")).status_code == 403

    await api.post("/sign-out", data={"csrf": csrf})
    supervisor = await make_user(hub, role="supervisor", tenant=mine.slug)
    csrf = await sign_in_client(api, supervisor)
    assert (await api.get("/supervisor")).status_code == 200
    assert (await api.get(f"/supervisor?tenant={theirs.slug}")).status_code == 404
    assert (await api.get(f"/supervisor/enquiries/{their_enquiry}")).status_code == 404
    assert (await api.get(f"/supervisor/agents/{theirs.agents[0]}")).status_code == 404
    r = await api.post(
        f"/supervisor/agents/{theirs.agents[0]}/skills", data={"skills": ["general"], "csrf": csrf}
    )
    assert r.status_code == 404
    async with hub.sessionmaker() as session:
        reference = (await session.get(Enquiry, their_enquiry)).reference  # type: ignore[union-attr]
    assert (await api.get(f"/supervisor/find?reference={reference}")).status_code == 404
    trail = await api.get(f"/supervisor/enquiries/{my_enquiry}")
    assert trail.status_code == 200 and "enquiry.queued" in trail.text and "Mine Resident" not in trail.text
    assert (await api.get("/console")).status_code == 403  # a supervisor has no console


async def test_stale_and_double_clicked_offers_change_nothing_twice(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=1)
    agent_id = partner.agents[0]
    csrf = await sign_in_client(api, await make_user(hub, role="agent", agent_id=agent_id))
    r = await api.post("/console/status", data={"status": "available", "csrf": csrf})
    assert r.status_code == 303 and notice(r) is None
    enquiry_id = await intake(hub, partner.slug, customer=customer_of())
    assert (await hub.desk.current_offer(agent_id)) is not None

    # Two clicks at once on Accept: one answer, and neither click is told off.
    first, second = await asyncio.gather(
        api.post("/console/offer/accept", data={"enquiry_id": enquiry_id, "csrf": csrf}),
        api.post("/console/offer/accept", data={"enquiry_id": enquiry_id, "csrf": csrf}),
    )
    assert (first.status_code, notice(first), second.status_code, notice(second)) == (303, None, 303, None)
    async with hub.sessionmaker() as session:
        answered = await session.scalar(
            select(func.count())
            .select_from(EnquiryEvent)
            .where(EnquiryEvent.enquiry_id == enquiry_id, EnquiryEvent.event == "enquiry.answered")
        )
    assert answered == 1
    # Rejecting what is already accepted is stale; completing twice completes once.
    r = await api.post("/console/offer/reject", data={"enquiry_id": enquiry_id, "csrf": csrf})
    assert notice(r) == "stale_offer"
    for _ in range(2):
        r = await api.post(
            "/console/complete", data={"enquiry_id": enquiry_id, "outcome": "callback_booked", "csrf": csrf}
        )
        assert r.status_code == 303
    async with hub.sessionmaker() as session:
        completed = await session.scalar(
            select(func.count())
            .select_from(EnquiryEvent)
            .where(EnquiryEvent.enquiry_id == enquiry_id, EnquiryEvent.event == "enquiry.completed")
        )
    assert completed == 1
    assert (await hub.desk.view(agent_id)).status == "wrap_up"
    # In wrap-up nothing is offered, even with work waiting; Ready takes the next.
    waiting = await intake(hub, partner.slug)
    assert await hub.desk.current_offer(agent_id) is None
    await api.post("/console/status", data={"status": "available", "csrf": csrf})
    offer = await hub.desk.current_offer(agent_id)
    assert offer is not None and offer.enquiry_id == waiting


async def test_forms_without_their_token_or_with_bad_fields_are_refused_without_a_500(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=1)
    agent_id = partner.agents[0]
    csrf = await sign_in_client(api, await make_user(hub, role="agent", agent_id=agent_id))
    r = await api.post("/console/status", data={"status": "available"})
    assert r.status_code == 403 and "form had expired" in r.text
    r = await api.post("/console/status", data={"status": "available", "csrf": "0" * 32})
    assert r.status_code == 403
    assert (await hub.desk.view(agent_id)).status == "offline"

    cases = [
        ("/console/status", {"status": "asleep"}, "bad_status"),
        ("/console/status", {}, "bad_status"),
        ("/console/offer/accept", {"enquiry_id": "abc"}, "stale_offer"),
        ("/console/offer/accept", {}, "stale_offer"),
        ("/console/complete", {"enquiry_id": "1", "outcome": "shrug"}, "bad_outcome"),
        ("/console/complete", {"enquiry_id": "x", "outcome": "resolved"}, "not_yours"),
        ("/console/transfer", {"enquiry_id": "1", "target": "nowhere"}, "unknown_target"),
    ]
    for path, data, expected in cases:
        r = await api.post(path, data={**data, "csrf": csrf})
        assert r.status_code == 303 and notice(r) == expected, (path, data, r.status_code, r.text[:200])
    for path in ("/console/offer/steal", "/console/nope", "/supervisor/enquiries/1"):
        r = await api.post(path, data={"csrf": csrf}) if "offer" in path else await api.get(path)
        assert 400 <= r.status_code < 500, (path, r.status_code)
    r = await api.get("/sign-in?next=//evil.example/&notice=<script>")
    assert r.status_code == 200 and "<script>" not in r.text and "evil.example" not in r.text
    r = await api.post("/sign-in", data={"username": "x" * 500, "password": "y" * 5000})
    assert r.status_code == 401


async def test_a_supervisor_changes_skills_live_and_the_agent_is_offered_waiting_work(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=1)
    agent_id = partner.agents[0]
    supervisor = await make_user(hub, role="supervisor", tenant=partner.slug)
    csrf = await sign_in_client(api, supervisor)
    r = await api.post(f"/supervisor/agents/{agent_id}/skills", data={"skills": ["general"], "csrf": csrf})
    assert r.status_code == 303 and notice(r) == "skills_saved"
    await hub.desk.set_status(agent_id, "available")
    missed_bin = await intake(hub, partner.slug, service="missed-bin")  # needs "waste", which they lack now
    assert await hub.desk.current_offer(agent_id) is None

    r = await api.post(
        f"/supervisor/agents/{agent_id}/skills", data={"skills": ["general"], "extra": "waste", "csrf": csrf}
    )
    assert notice(r) == "skills_saved"
    offer = await hub.desk.current_offer(agent_id)
    assert offer is not None and offer.enquiry_id == missed_bin
    r = await api.post(f"/supervisor/agents/{agent_id}/skills", data={"extra": "no spaces!", "csrf": csrf})
    assert notice(r) == "bad_skills"
    async with hub.sessionmaker() as session:
        audit = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.agent_id == agent_id, AuditEntry.action == "agent.skills_changed"
                )
            )
        ).all()
    assert [a.detail["after"] for a in audit] == [["general"], ["general", "waste"]]
    assert audit[1].detail["offered_enquiry"] == missed_bin and audit[1].username == supervisor[0]

    page = await api.get(f"/supervisor/agents/{agent_id}")
    assert page.status_code == 200 and 'value="waste" checked' in page.text
    trail = await api.get(f"/supervisor/enquiries/{missed_bin}")
    assert trail.status_code == 200
    assert [e for e in ("enquiry.received", "enquiry.queued", "enquiry.offered") if e not in trail.text] == []


async def test_a_transfer_queues_the_caller_for_another_partner_once(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    here, there = await make_partner(agents=1), await make_partner(agents=0)
    elsewhere = await make_partner(agents=0)  # no agreement with here: not a target
    agent_id = here.agents[0]
    csrf = await sign_in_client(api, await make_user(hub, role="agent", agent_id=agent_id))
    # there may take here's work and see the name only
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {"id": f"{there.slug}-takes", "lender": there.slug, "borrower": here.slug}
                    | {"visible_fields": ["name"]}
                )
            ],
        )
    await hub.desk.set_status(agent_id, "available")
    enquiry_id = await intake(
        hub,
        here.slug,
        customer=customer_of("Terry Transfer", email="terry@example.org"),
        attributes={"bin_colour": "green"},
    )
    await hub.desk.accept(agent_id, enquiry_id)
    page = await api.get("/console")
    assert f'value="{there.slug}/council-tax"' in page.text
    assert f'value="{elsewhere.slug}/' not in page.text
    r = await api.post(
        "/console/transfer",
        data={"enquiry_id": enquiry_id, "target": f"{elsewhere.slug}/council-tax", "csrf": csrf},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("notice=no_agreement")

    for _ in range(2):  # a double click makes one transfer
        r = await api.post(
            "/console/transfer",
            data={
                "enquiry_id": enquiry_id,
                "target": f"{there.slug}/council-tax",
                "notes": "county matter",
                "csrf": csrf,
            },
        )
        assert r.status_code == 303
    async with hub.sessionmaker() as session:
        original = await session.get(Enquiry, enquiry_id)
        moved = (await session.scalars(select(Enquiry).where(Enquiry.tenant_slug == there.slug))).all()
    assert original is not None and (original.state, original.outcome) == ("completed", "transferred")
    assert len(moved) == 1 and moved[0].state == "queued" and moved[0].service_code == "council-tax"
    # only what the agreement shows travels: the name; not the phone, email, UPRN or attributes
    assert moved[0].customer == {"name": "Terry Transfer"} and moved[0].attributes == {}
    assert moved[0].customer_id is None  # no phone, email or UPRN travelled: there holds no customer record
    async with hub.sessionmaker() as session:
        audit = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.enquiry_id == enquiry_id, AuditEntry.action == "enquiry.transfer_copied"
                )
            )
        ).all()
    assert len(audit) == 1 and audit[0].fields == ["name"]
    assert audit[0].detail["withheld"] == ["attributes", "email", "phone", "uprn"]
    assert audit[0].detail["to_enquiry_id"] == moved[0].id
    assert (await hub.desk.view(agent_id)).status == "wrap_up"
    depths = await hub.live.queue_depths()
    assert depths.get(f"{there.slug}/council-tax") == 1


async def test_the_audit_log_refuses_changes_in_the_database_itself(hub: Hub, make_partner) -> None:
    partner = await make_partner(agents=1)
    enquiry_id = await intake(hub, partner.slug, customer=customer_of())
    async with unit_of_work(hub.sessionmaker) as session:
        await record(
            session,
            at=hub.dispatcher.clock(),
            action="customer.viewed",
            username="t",
            role="agent",
            enquiry_id=enquiry_id,
        )
    for statement in (
        f"UPDATE audit_log SET username = 'someone else' WHERE enquiry_id = {enquiry_id}",
        f"DELETE FROM audit_log WHERE enquiry_id = {enquiry_id}",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
            async with unit_of_work(hub.sessionmaker) as session:
                await session.execute(text(statement))
    async with hub.sessionmaker() as session:
        rows = (await session.scalars(select(AuditEntry).where(AuditEntry.enquiry_id == enquiry_id))).all()
    assert [r.username for r in rows] == ["t"]


async def test_committee_and_home_pages(hub: Hub, make_partner, api: httpx.AsyncClient) -> None:
    partner = await make_partner(agents=1)
    await intake(hub, partner.slug)
    committee = await make_user(hub, role="committee", tenant=partner.slug)
    await sign_in_client(api, committee)
    assert (await api.get("/")).headers["location"] == "/committee"
    page = await api.get("/committee")
    assert page.status_code == 200 and f'data-tenant="{partner.slug}"' in page.text
    assert (await api.get("/supervisor")).status_code == 403
    assert (await api.get("/console")).status_code == 403


async def test_the_catalogue_script_and_prompts_of_a_service_reach_the_console(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    partner = await make_partner(agents=1)
    agent_id = partner.agents[0]
    # The catalogue issue adds these fields to the YAML; the console reads them when they are there.
    async with unit_of_work(hub.sessionmaker) as session:
        service = await session.scalar(
            select(Service).where(Service.tenant_slug == partner.slug, Service.code == "missed-bin")
        )
        assert service is not None
        service.definition = {
            **service.definition,
            "script": ["Ask which bin: grey, blue or brown.", "Check the round for {partner} on the map."],
            "prompts": [
                {
                    "id": "assisted",
                    "when": {"fact": {"assisted_collection": True}},
                    "say": "Assisted collection: tell the crew.",
                }
            ],
        }
    csrf = await sign_in_client(api, await make_user(hub, role="agent", agent_id=agent_id))
    await hub.desk.set_status(agent_id, "available")
    enquiry_id = await intake(
        hub, partner.slug, customer=customer_of(), attributes={"assisted_collection": True}
    )
    await hub.desk.accept(agent_id, enquiry_id)
    page = await api.get("/console")
    assert "<li>Ask which bin: grey, blue or brown.</li>" in page.text
    assert f"<li>Check the round for Test partner {partner.slug} on the map.</li>" in page.text
    assert 'data-rule="assisted"' in page.text
    assert (
        page.headers["x-frame-options"] == "DENY"
        and "default-src 'self'" in page.headers["content-security-policy"]
    )
    assert page.headers["cache-control"] == "no-store"

    r = await api.post(
        "/console/complete",
        data={
            "enquiry_id": enquiry_id,
            "outcome": "passed_to_back_office",
            "notes": "Pat at no. 4 is housebound",
            "csrf": csrf,
        },
    )
    assert notice(r) == "completed"
    # The notes describe the customer: the owner's supervisor sees them on the trail, and that is audited.
    await api.post("/sign-out", data={"csrf": csrf})
    supervisor = await make_user(hub, role="supervisor", tenant=partner.slug)
    await sign_in_client(api, supervisor)
    trail = await api.get(f"/supervisor/enquiries/{enquiry_id}")
    assert "housebound" in trail.text and "enquiry.completed" in trail.text
    async with hub.sessionmaker() as session:
        audit = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.enquiry_id == enquiry_id, AuditEntry.username == supervisor[0]
                )
            )
        ).all()
    assert [(a.fields, a.detail["page"]) for a in audit] == [(["notes"], "trail")]
