"""Roles × partners × endpoints: a principal of partner A never reads or changes partner B's data (no agreement).

Every endpoint of the hub that names a partner, an agent, an enquiry or a delivery is called by each of A's roles
(bearer tokens, and signed-in web sessions for the console and supervisor pages) with B's identifiers. Each call must
be refused (401/403/404/405/422: never 2xx, never 5xx) and B's rows must be exactly as before. The same calls with
A's own identifiers succeed for the right role, so the refusals are not an accident of a broken request.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token
from tests.hub.web.conftest import intake, make_user, sign_in_client

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
