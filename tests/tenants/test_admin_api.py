"""The admin API for partner definitions: admin role only, validated like a file, versioned, live at once."""

from __future__ import annotations

import httpx

from hub.runtime import Hub
from plumbing.auth.service import check_api_key
from plumbing.db.session import unit_of_work
from tenants.tokens import create_token
from tests.conftest import unique_slug
from tests.helpers_examples import example_raw
from tests.helpers_problems import problem_fields


async def _token(hub: Hub, role: str, tenant: str | None = None) -> dict[str, str]:
    async with unit_of_work(hub.sessionmaker) as session:
        token = await create_token(session, role=role, tenant=tenant)
    return {"Authorization": f"Bearer {token}"}


def _document(slug: str) -> dict:  # type: ignore[type-arg]
    raw = example_raw("south-ribble")
    raw["tenant"]["slug"] = slug
    raw["agents"] = [{**a, "id": f"{slug}-a{i}"} for i, a in enumerate(raw["agents"])]
    # YAML gives dates; JSON carries them as text.
    for closure in raw["closures"]:
        closure["date"] = str(closure["date"])
    return raw


async def test_create_read_change_and_version_a_partner(hub: Hub, api: httpx.AsyncClient) -> None:
    admin = await _token(hub, "admin")
    slug = unique_slug("south-ribble")
    document = _document(slug)

    response = await api.put(f"/api/v1/admin/partners/{slug}", json=document, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"slug": slug, "version": 1, "changed": True}
    # Live at once: Open311 sees the new partner without waiting for the catalogue cache.
    services = await api.get("/open311/v2/services.json", params={"jurisdiction_id": slug})
    assert services.status_code == 200 and len(services.json()) == 3  # three of six are offered to Open311

    response = await api.get(f"/api/v1/admin/partners/{slug}", headers=admin)
    assert response.status_code == 200
    partner = response.json()
    assert partner["jurisdiction_id"] == slug and partner["catalogue_version"] == 1
    by_code = {s["code"]: s for s in partner["services"]}
    # The partner's own name beside the standard one.
    assert by_code["missed-bin"]["name"] == "Missed bin collection"
    assert by_code["missed-bin"]["lgsl"] == {
        "code": 524,
        "name": "Household waste collection",
        "status": "Live",
    }
    assert by_code["general"]["lgsl"] is None
    assert by_code["housing-benefit"]["open311"] is False

    # What GET gives can be PUT back unchanged: no new version.
    again = await api.put(f"/api/v1/admin/partners/{slug}", json=partner["definition"], headers=admin)
    assert again.json() == {"slug": slug, "version": 1, "changed": False}

    changed = partner["definition"]
    changed["services"][1]["resolution_working_days"] = 3
    response = await api.put(f"/api/v1/admin/partners/{slug}", json=changed, headers=admin)
    assert response.json() == {"slug": slug, "version": 2, "changed": True}
    versions = (await api.get(f"/api/v1/admin/partners/{slug}/versions", headers=admin)).json()
    assert [v["version"] for v in versions] == [2, 1]
    first = (await api.get(f"/api/v1/admin/partners/{slug}/versions/1", headers=admin)).json()
    missing = await api.get(f"/api/v1/admin/partners/{slug}/versions/3", headers=admin)
    assert problem_fields(missing) == {
        "type": "urn:hub:problem:unknown_version",
        "title": "Not Found",
        "status": 404,
        "code": "unknown_version",
    }
    assert missing.json()["detail"] == f"{slug!r} has no catalogue version 3"
    assert first["definition"]["services"][1]["resolution_working_days"] == 2
    listed = (await api.get("/api/v1/admin/partners", headers=admin)).json()
    assert {"slug": slug, "catalogue_version": 2}.items() <= next(
        p for p in listed if p["slug"] == slug
    ).items()


async def test_invalid_definitions_are_refused_with_every_problem(hub: Hub, api: httpx.AsyncClient) -> None:
    admin = await _token(hub, "admin")
    slug = unique_slug("south-ribble")
    document = _document(slug)
    document["services"][1]["lgsl"] = 99999
    document["opening_hours"]["phone"] = {"mon-fri": "17:00-08:30"}
    response = await api.put(f"/api/v1/admin/partners/{slug}", json=document, headers=admin)
    assert response.status_code == 422
    errors = response.json()["problems"]
    assert {
        "path": "services[1].lgsl",
        "message": "LGSL code 99999 is not in the Local Government Service List",
    } in errors
    assert any(e["path"] == "opening_hours.phone" and "ends before it starts" in e["message"] for e in errors)
    assert (await api.get(f"/api/v1/admin/partners/{slug}", headers=admin)).status_code == 404

    mismatch = await api.put(f"/api/v1/admin/partners/{slug}-other", json=_document(slug), headers=admin)
    assert problem_fields(mismatch) == {
        "type": "urn:hub:problem:slug_mismatch",
        "title": "Bad Request",
        "status": 400,
        "code": "slug_mismatch",
    }
    assert mismatch.json()["detail"] == f"tenant.slug {slug!r} does not match the path {slug + '-other'!r}"


async def test_only_admins_and_api_keys(hub: Hub, api: httpx.AsyncClient, make_partner) -> None:
    partner = await make_partner(agents=0)
    supervisor = await _token(hub, "supervisor", partner.slug)
    assert (await api.get("/api/v1/admin/partners", headers=supervisor)).status_code == 403
    assert (await api.get("/api/v1/admin/partners")).status_code == 401
    admin = await _token(hub, "admin")
    response = await api.post(f"/api/v1/admin/partners/{partner.slug}/api-keys", headers=admin)
    assert response.status_code == 201
    key = response.json()["api_key"]
    async with hub.sessionmaker() as session:
        assert await check_api_key(session, key, tenant=partner.slug)
        assert not await check_api_key(session, key, tenant="someone-else")
    # An Open311 key opens nothing in the hub's own API.
    as_key = {"Authorization": f"Bearer {key}"}
    metrics = await api.get(
        f"/api/v1/tenants/{partner.slug}/metrics",
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
        headers=as_key,
    )
    assert metrics.status_code == 403
