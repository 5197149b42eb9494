"""Roles × partners × endpoints: a principal of partner A never reads or changes partner B's data (no agreement).

Every endpoint of the hub that names a partner, an agent, an enquiry or a delivery is called by each of A's roles
(bearer tokens, and signed-in web sessions for the console and supervisor pages) with B's identifiers. Each call must
be refused (401/403/404/405/422: never 2xx, never 5xx) and B's rows must be exactly as before. The same calls with
A's own identifiers succeed for the right role, so the refusals are not an accident of a broken request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select, text, update

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.audit.models import AuditEntry
from plumbing.db.session import unit_of_work
from routing.dispatch.presence import change_status
from routing.events import EnquiryRef, NewEvent, record_events
from routing.models import Enquiry
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.models import Agent
from tenants.tokens import create_token
from tests.conftest import Partner
from tests.hub.web.conftest import customer_of, intake, make_user, sign_in_client
from tests.whatif.test_whatif import T, record_period

REFUSED = {401, 403, 404, 405, 422}
WINDOW = "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"
COUNTED = (
    "enquiries",
    "enquiry_events",
    "services",
    "agents",
    "agent_events",
    "customers",
    "api_tokens",
    "published_periods",
    "catalogue_versions",
    "backoffice_deliveries",
    "cases",
    "case_updates",
)


async def bearer(hub: Hub, **kwargs: Any) -> dict[str, str]:
    async with unit_of_work(hub.sessionmaker) as session:
        value = await create_token(session, **kwargs)
    return {"Authorization": f"Bearer {value}"}


def api_calls(slug: str, agent: str, enquiry: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/api/v1/agents/{agent}", None),
        ("GET", f"/api/v1/agents/{agent}/offer", None),
        ("PUT", f"/api/v1/agents/{agent}/status", {"status": "available"}),
        ("POST", f"/api/v1/agents/{agent}/offer/accept", {}),
        ("POST", f"/api/v1/agents/{agent}/offer/reject", {}),
        ("POST", f"/api/v1/agents/{agent}/complete", {"outcome": "resolved"}),
        ("GET", f"/api/v1/tenants/{slug}/metrics?{WINDOW}", None),
        ("GET", f"/api/v1/tenants/{slug}/figures?{WINDOW}", None),
        ("GET", f"/api/v1/tenants/{slug}/periods/2026-01", None),
        ("POST", f"/api/v1/tenants/{slug}/periods/2026-01/publish", {}),
        ("GET", f"/api/v1/tenants/{slug}/periods/2026-01/pack.csv", None),
        ("GET", f"/api/v1/tenants/{slug}/queues", None),
        ("GET", f"/api/v1/tenants/{slug}/backoffice/deliveries", None),
        ("POST", f"/api/v1/tenants/{slug}/backoffice/deliveries/1/redrive", {}),
        ("POST", f"/api/v1/backoffice/{slug}/services/missed-bin/updates", {"status": "closed"}),
        ("GET", f"/api/v1/admin/partners/{slug}", None),
        ("PUT", f"/api/v1/admin/partners/{slug}", {}),
        ("GET", f"/api/v1/admin/partners/{slug}/versions", None),
        ("GET", f"/api/v1/admin/partners/{slug}/versions/1", None),
        ("POST", f"/api/v1/admin/partners/{slug}/api-keys", {}),
        ("GET", "/api/v1/admin/agreements", None),
        ("GET", f"/api/v1/enquiries/{enquiry}/trail", None),
        ("GET", f"/api/v1/enquiries/{enquiry}/wait", None),
        ("POST", f"/api/v1/enquiries/{enquiry}/callback", {"phone": "01257 000000"}),
    ]


def enquiry_b_of(counts: dict[str, Any]) -> int:
    return int(counts["enquiry_states"][0][0])


async def snapshot(hub: Hub, slug: str, agent: str) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    async with unit_of_work(hub.sessionmaker) as session:
        for table in COUNTED:
            counts[table] = await session.scalar(
                text(f"SELECT count(*) FROM {table} WHERE tenant_slug = :t"), {"t": slug}
            )
        counts["enquiry_states"] = (
            await session.execute(
                text(
                    "SELECT id, state, priority, agent_id FROM enquiries WHERE tenant_slug = :t ORDER BY id"
                ),
                {"t": slug},
            )
        ).all()
    counts["offer"] = await hub.live.offer_for(agent)
    counts["position"] = await hub.live.position(enquiry_b_of(counts))
    return counts


async def test_no_role_of_one_partner_reads_or_writes_another_partners_data(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    a, b = await make_partner("iso-a", agents=1), await make_partner("iso-b", agents=1)
    enquiry_b = await intake(hub, b.slug)
    enquiry_a = await intake(hub, a.slug)
    principals = {
        "agent": await bearer(hub, role="agent", agent_id=a.agents[0]),
        "supervisor": await bearer(hub, role="supervisor", tenant=a.slug),
        "committee": await bearer(hub, role="committee", tenant=a.slug),
        "partner": await bearer(hub, role="partner", tenant=a.slug),
        "open311": await bearer(hub, role="open311", tenant=a.slug),
    }
    before = await snapshot(hub, b.slug, b.agents[0])
    leaks: list[str] = []
    calls = 0
    for role, headers in principals.items():
        for method, path, body in api_calls(b.slug, b.agents[0], enquiry_b):
            r = await api.request(method, path, headers=headers, json=body)
            calls += 1
            if r.status_code not in REFUSED:
                leaks.append(f"{role} {method} {path} -> {r.status_code} {r.text[:200]}")
    # Open311: A's api_key posting into B's jurisdiction.
    key = principals["open311"]["Authorization"].split(" ", 1)[1]
    r = await api.post(
        "/open311/v2/requests.json",
        data={"jurisdiction_id": b.slug, "api_key": key, "service_code": "missed-bin", "description": "x"},
    )
    calls += 1
    if r.status_code != 403:
        leaks.append(f"open311 POST into {b.slug} -> {r.status_code}")
    # Signed-in web sessions (console and supervisor pages).
    agent_login = await make_user(hub, role="agent", tenant=a.slug, agent_id=a.agents[0])
    supervisor_login = await make_user(hub, role="supervisor", tenant=a.slug)
    for login, pages in (
        (agent_login, [("GET", f"/console/enquiries/{enquiry_b}")]),
        (
            supervisor_login,
            [
                ("GET", f"/supervisor/enquiries/{enquiry_b}"),
                ("GET", f"/supervisor/agents/{b.agents[0]}"),
                ("GET", f"/supervisor/find?q={b.slug}"),
            ],
        ),
    ):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
        ) as web:
            csrf = await sign_in_client(web, login)
            for method, path in pages:
                r = await web.request(method, path)
                calls += 1
                if r.status_code not in REFUSED and not (r.status_code == 200 and b.slug not in r.text):
                    leaks.append(f"web {login[0]} {method} {path} -> {r.status_code}")
            if login is supervisor_login:
                r = await web.post(
                    f"/supervisor/agents/{b.agents[0]}/skills", data={"csrf": csrf, "skills": "general"}
                )
                calls += 1
                if r.status_code not in REFUSED:
                    leaks.append(f"web supervisor POST skills of {b.agents[0]} -> {r.status_code}")
    assert leaks == [], "\n".join(leaks)
    assert calls >= 120
    assert await snapshot(hub, b.slug, b.agents[0]) == before

    # The control: the same kind of calls on A's own data go through for the role that owns them.
    own = principals["supervisor"]
    assert (await api.get(f"/api/v1/agents/{a.agents[0]}", headers=own)).status_code == 200
    assert (await api.get(f"/api/v1/tenants/{a.slug}/queues", headers=own)).status_code == 200
    assert (await api.get(f"/api/v1/enquiries/{enquiry_a}/trail", headers=own)).status_code == 200
    committee = principals["committee"]
    assert (await api.get(f"/api/v1/tenants/{a.slug}/metrics?{WINDOW}", headers=committee)).status_code == 200


# ---------------------------------------------------------------------------------------------------------------
# Every path asks the one access decision (tenants.access, routing.access): roles × partners × agreements.
#
# Three partners: OWNER, LENDER (lends to OWNER, shows its agents the name only, unit rate 1.25) and THIRD (also
# lends to OWNER, unit rate 7.77, but never touched the enquiry in question). One of OWNER's enquiries overflowed
# to LENDER's agent under the agreement. An agreement grants rows one at a time (the enquiry LENDER handled) and
# only the agreed fields; it never grants a partner-wide read (figures, replays, rotas, other agreements).
# ---------------------------------------------------------------------------------------------------------------

SECRET_NOTE = "resident mentioned a private matter"
CALLBACK_PHONE = "07700 900123"


@dataclass
class World:
    owner: Partner
    lender: Partner
    third: Partner
    overflowed: int
    lender_terms: str
    third_terms: str
    replay_end: datetime


async def overflow_world(hub: Hub, make_partner) -> World:  # type: ignore[no-untyped-def]
    owner = await make_partner("owner", agents=1)
    lender = await make_partner("lender", agents=2)
    third = await make_partner("third", agents=1)
    lender_terms, third_terms = f"{lender.slug}-lends", f"{third.slug}-lends"
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {
                        "id": lender_terms,
                        "lender": lender.slug,
                        "borrower": owner.slug,
                        "conditions": {"waited_at_least_seconds": 600},
                        "unit_rate": 1.25,
                        "visible_fields": ["name"],
                    }
                ),
                AgreementDefinition.model_validate(
                    {
                        "id": third_terms,
                        "lender": third.slug,
                        "borrower": owner.slug,
                        "conditions": {"waited_at_least_seconds": 600},
                        "unit_rate": 7.77,
                        "visible_fields": ["name", "phone", "email", "uprn"],
                    }
                ),
            ],
        )
    replay_end = await record_period(hub, owner, n=20)  # OWNER's recorded month for the what-if replay
    person = customer_of("Robin Private", email="robin@example.org", address="9 Secret Lane")
    overflowed = await intake(hub, owner.slug, customer=person, attributes={"bin_colour": "green"})
    # Hand it to LENDER's first agent as the dispatcher would: offered and answered under the agreement.
    await hub.live.withdraw(overflowed)
    agent_id = lender.agents[0]
    async with unit_of_work(hub.sessionmaker) as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        await change_status(session, agent, "busy", at=hub.dispatcher.clock(), reason="accepted")
        await session.execute(
            update(Enquiry)
            .where(Enquiry.id == overflowed)
            .values(state="answered", agent_id=agent_id, handler_slug=lender.slug, agreement_id=lender_terms)
        )
        taken = await session.get(Enquiry, overflowed)
        assert taken is not None
        ref, now = EnquiryRef.of(taken), hub.dispatcher.clock()
        await record_events(
            session,
            [
                NewEvent(
                    ref,
                    "enquiry.offered",
                    now,
                    agent_id=agent_id,
                    handler=lender.slug,
                    data={"agreement": lender_terms, "queue": f"{owner.slug}/missed-bin"},
                ),
                NewEvent(
                    ref,
                    "enquiry.answered",
                    now,
                    agent_id=agent_id,
                    handler=lender.slug,
                    data={"notes": SECRET_NOTE},  # as an agent's note would be recorded; the owner's only
                ),
                NewEvent(
                    ref,
                    "enquiry.callback_accepted",
                    now,
                    data={"keeps_place": True, "phone": CALLBACK_PHONE},  # the agreement does not show phones
                ),
            ],
        )
    return World(owner, lender, third, overflowed, lender_terms, third_terms, replay_end)


@asynccontextmanager
async def web_client(hub: Hub, login: tuple[str, str]) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An httpx client signed in as ``login``, and its form token."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as client:
        yield client, await sign_in_client(client, login)


async def test_both_trails_give_the_same_answer_to_every_role_of_every_partner(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    w = await overflow_world(hub, make_partner)
    # who -> (status, notes shown): the owner and the hub see everything; the lender, whose agent handled it
    # under the agreement, sees the trail without the notes; the third partner, though it too has an agreement
    # with the owner, did not handle this enquiry and sees nothing.
    expected: dict[str, tuple[int, bool, bool]] = {
        "owner": (200, True, True),
        "lender": (200, False, False),
        "third": (404, False, False),
        "hub": (200, True, True),
    }
    tenants = {"owner": w.owner.slug, "lender": w.lender.slug, "third": w.third.slug, "hub": None}
    answers: dict[str, tuple[int, bool, bool]] = {}
    for who, tenant in tenants.items():
        headers = await bearer(hub, role="supervisor", tenant=tenant)
        r = await api.get(f"/api/v1/enquiries/{w.overflowed}/trail", headers=headers)
        api_answer = (r.status_code, SECRET_NOTE in r.text, CALLBACK_PHONE in r.text)
        async with web_client(hub, await make_user(hub, role="supervisor", tenant=tenant)) as (client, _):
            page = await client.get(f"/supervisor/enquiries/{w.overflowed}")
            found = await client.get(
                "/supervisor/find", params={"reference": await reference_of(hub, w.overflowed)}
            )
        web_answer = (page.status_code, SECRET_NOTE in page.text, CALLBACK_PHONE in page.text)
        assert api_answer == web_answer, f"{who}: API {api_answer} but web {web_answer}"
        assert (found.status_code == 303) == (api_answer[0] == 200), f"{who}: find {found.status_code}"
        answers[who] = api_answer
        if api_answer[0] == 200 and not api_answer[1]:
            assert "only the owner" in r.text and "only the owner" in page.text
    assert answers == expected

    # Agents: only the one whose hands it is in (the lender's first agent), without the notes.
    agents = {
        "lender agent in hand": (w.lender.agents[0], (200, False, False)),
        "lender's other agent": (w.lender.agents[1], (404, False, False)),
        "owner's agent": (w.owner.agents[0], (404, False, False)),
        "third's agent": (w.third.agents[0], (404, False, False)),
    }
    for who, (agent_id, want) in agents.items():
        headers = await bearer(hub, role="agent", agent_id=agent_id)
        r = await api.get(f"/api/v1/enquiries/{w.overflowed}/trail", headers=headers)
        assert (r.status_code, SECRET_NOTE in r.text, CALLBACK_PHONE in r.text) == want, who


async def reference_of(hub: Hub, enquiry_id: int) -> str:
    async with hub.sessionmaker() as session:
        enquiry = await session.get(Enquiry, enquiry_id)
    assert enquiry is not None
    return enquiry.reference


def replay_text(start: datetime, end: datetime, partners: list[str] | None, rota: str) -> str:
    listed = f", partners: [{', '.join(partners)}]" if partners is not None else ""
    return (
        f"name: replayed\nreplay: {{start: {start.isoformat()}, end: {end.isoformat()}{listed}}}\n"
        f"rotas:\n  - {{partner: {rota}, agents: 1, skills: [general, waste, revenues]}}\n"
    )


async def test_a_what_if_replays_only_the_partners_its_caller_may_read(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    w = await overflow_world(hub, make_partner)
    recorded = 20  # record_period's contacts for the owner (n=20)
    runs = {
        # (caller's partner, partners named in replay) -> status, contacts replayed
        ("lender", "owner"): (403, None),  # an agreement never opens the owner's recorded month
        ("third", "owner"): (403, None),
        ("lender", "lender+owner"): (403, None),
        ("lender", "lender"): (200, 0),
        ("lender", "all"): (200, 0),  # left out: only the readable partners are replayed
        ("owner", "owner"): (200, recorded),
        ("owner", "all"): (200, recorded),
        ("hub", "owner"): (200, recorded),
    }
    slugs = {"owner": w.owner.slug, "lender": w.lender.slug, "third": w.third.slug, "hub": None}
    for (caller, named), (status, contacts) in runs.items():
        headers = await bearer(hub, role="committee", tenant=slugs[caller])
        partners = None if named == "all" else [str(slugs[p]) for p in named.split("+")]
        rota = slugs[caller] or w.owner.slug
        scenario = replay_text(T, w.replay_end, partners, str(rota))
        r = await api.post("/api/v1/committee/whatif", headers=headers, json={"scenario": scenario})
        assert r.status_code == status, f"{caller} replaying {named}: {r.status_code} {r.text[:300]}"
        if status == 200:
            assert r.json()["reports"][0]["contacts"] == contacts, (caller, named)
        else:
            assert r.json()["code"] == "forbidden" and "handle" not in r.text


async def test_the_what_if_page_shows_only_the_callers_rotas_and_agreements(hub: Hub, make_partner) -> None:
    w = await overflow_world(hub, make_partner)
    seen: dict[str, str] = {}
    for who, tenant in (("lender", w.lender.slug), ("third", w.third.slug), ("hub", None)):
        async with web_client(hub, await make_user(hub, role="committee", tenant=tenant)) as (client, csrf):
            page = await client.get("/committee/whatif")
            assert page.status_code == 200
            seen[who] = page.text
            if tenant is not None:  # the page's own form refuses a replay of the owner's month
                posted = await client.post(
                    "/committee/whatif",
                    data={
                        "a": replay_text(T, w.replay_end, [w.owner.slug], tenant),
                        "csrf": csrf,
                        "seed": "1",
                    },
                )
                assert posted.status_code == 403 and "your access does" in posted.text, who
    # the lender sees its own agreement (and so the owner's name in it), never the third's terms or rota
    assert w.lender_terms in seen["lender"] and "1.25" in seen["lender"]
    assert w.third_terms not in seen["lender"] and "7.77" not in seen["lender"]
    assert (
        f"partner: {w.third.slug}" not in seen["lender"] and f"partner: {w.owner.slug}" not in seen["lender"]
    )
    assert (
        w.third_terms in seen["third"] and w.lender_terms not in seen["third"] and "1.25" not in seen["third"]
    )
    # the joint committee, unscoped, sees every partner
    for text_ in (w.lender_terms, w.third_terms, f"partner: {w.owner.slug}", f"partner: {w.third.slug}"):
        assert text_ in seen["hub"]


async def test_partner_wide_reports_stay_the_partners_own_whatever_the_agreements(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    w = await overflow_world(hub, make_partner)
    paths = [
        f"/api/v1/tenants/{w.owner.slug}/metrics?{WINDOW}",
        f"/api/v1/tenants/{w.owner.slug}/figures?{WINDOW}",
        f"/api/v1/tenants/{w.owner.slug}/queues",
        f"/api/v1/tenants/{w.owner.slug}/periods/2026-01/pack.csv",
        f"/api/v1/tenants/{w.owner.slug}/backoffice/deliveries",
        f"/api/v1/enquiries/{w.overflowed}/wait",  # an agreement grants a read of the row, not its queue
    ]
    for tenant in (w.lender.slug, w.third.slug):
        for role in ("supervisor", "committee", "partner"):
            headers = await bearer(hub, role=role, tenant=tenant)
            for path in paths:
                r = await api.get(path, headers=headers)
                assert r.status_code in REFUSED, f"{role} of {tenant} GET {path} -> {r.status_code}"
        async with web_client(hub, await make_user(hub, role="committee", tenant=tenant)) as (client, _):
            chart = await client.get(f"/committee/charts/{w.owner.slug}/2026-01/volumes.png")
            assert chart.status_code == 404
    own = await bearer(hub, role="committee", tenant=w.owner.slug)
    assert (await api.get(paths[0], headers=own)).status_code == 200  # the control


async def test_the_customer_view_and_the_transfer_keep_the_owners_rules(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    w = await overflow_world(hub, make_partner)
    other_of_owner = await intake(hub, w.owner.slug, customer=customer_of("Someone Else"))
    # Customer view: the lender's agent in hand sees the agreed name only; nobody else of another partner sees it.
    logins: dict[str, tuple[str, str]] = {}
    for agent_id, enquiry_id, status in (
        (w.lender.agents[0], w.overflowed, 200),
        (w.lender.agents[0], other_of_owner, 404),
        (w.lender.agents[1], w.overflowed, 404),
        (w.third.agents[0], w.overflowed, 404),
    ):
        if agent_id not in logins:
            logins[agent_id] = await make_user(hub, role="agent", agent_id=agent_id)
        async with web_client(hub, logins[agent_id]) as (client, _):
            page = await client.get(f"/console/enquiries/{enquiry_id}")
        assert page.status_code == status, (agent_id, enquiry_id)
        for secret in ("robin@example.org", "100010380000", "01257 000 111", "9 Secret Lane", "green"):
            assert secret not in page.text
        if status == 200:
            assert "Robin Private" in page.text

    lender_agent = await bearer(hub, role="agent", agent_id=w.lender.agents[0])
    # Completing as "transferred" without a target is refused, pointing to the transfer call; nothing changes.
    r = await api.post(
        "/api/v1/agents/me/complete",
        headers=lender_agent,
        json={"enquiry_id": w.overflowed, "outcome": "transferred"},
    )
    assert r.status_code == 422 and r.json()["code"] == "transfer_needs_target"
    assert r.json()["transfer"] == f"/api/v1/agents/{w.lender.agents[0]}/transfer"
    async with hub.sessionmaker() as session:
        still = await session.get(Enquiry, w.overflowed)
        assert still is not None and still.state == "answered"

    # The issue's case: the lender's agent transfers the owner's enquiry into its own partner's queue. The copy
    # carries only the name (email, UPRN, phone and attributes withheld) and the copy is audited.
    r = await api.post(
        "/api/v1/agents/me/transfer",
        headers=lender_agent,
        json={
            "enquiry_id": w.overflowed,
            "to_tenant": w.lender.slug,
            "to_service": "general",
            "notes": "for general",
        },
    )
    assert r.status_code == 200, r.text
    moved_id = r.json()["to_enquiry"]
    async with hub.sessionmaker() as session:
        moved = await session.get(Enquiry, moved_id)
        audit = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.enquiry_id == w.overflowed, AuditEntry.action == "enquiry.transfer_copied"
                )
            )
        ).all()
    assert (
        moved is not None
        and moved.tenant_slug == w.lender.slug
        and moved.message_id.startswith("transfer-of-")
    )
    assert moved.customer == {"name": "Robin Private"} and moved.attributes == {}
    assert moved.call is None or "caller" not in moved.call
    assert len(audit) == 1 and audit[0].fields == ["name"]
    assert audit[0].actor_tenant == w.lender.slug and audit[0].owner_tenant == w.owner.slug
    assert audit[0].detail["agreement"] == w.lender_terms and audit[0].detail["to_enquiry_id"] == moved_id
    assert audit[0].detail["withheld"] == ["address", "attributes", "email", "phone", "uprn"]

    # A transfer to a partner with no agreement covering the work is refused, and changes nothing: the copy is
    # now the lender's own enquiry, and the owner lends nothing to the lender, so it cannot go (back) to the owner.
    second = w.lender.agents[1]
    await hub.desk.set_status(second, "available")
    offer = await hub.desk.current_offer(second)
    assert offer is not None and offer.enquiry_id == moved_id
    own_of_lender = moved_id
    await hub.desk.accept(second, own_of_lender)
    second_headers = await bearer(hub, role="agent", agent_id=second)
    r = await api.post(
        "/api/v1/agents/me/transfer",
        headers=second_headers,
        json={"enquiry_id": own_of_lender, "to_tenant": w.owner.slug, "to_service": "general"},
    )
    assert r.status_code == 403 and r.json()["code"] == "no_agreement"
    async with hub.sessionmaker() as session:
        kept = await session.get(Enquiry, own_of_lender)
        assert kept is not None and kept.state == "answered"
        copies = await session.scalar(
            select(func.count())
            .select_from(Enquiry)
            .where(Enquiry.message_id == f"transfer-of-{own_of_lender}")
        )
    assert copies == 0
    # ... while within the partner the whole record travels
    r = await api.post(
        "/api/v1/agents/me/transfer",
        headers=second_headers,
        json={"enquiry_id": own_of_lender, "to_tenant": w.lender.slug, "to_service": "council-tax"},
    )
    assert r.status_code == 200, r.text
    async with hub.sessionmaker() as session:
        whole = await session.get(Enquiry, r.json()["to_enquiry"])
    assert whole is not None and whole.customer == {"name": "Robin Private"}
