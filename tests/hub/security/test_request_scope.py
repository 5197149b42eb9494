"""Row-level security narrows every authenticated HTTP request to the caller's partner and its agreement partners:
a second check behind the endpoints' own, so an endpoint that forgot its check still could not read another
partner's rows. Hub-wide callers (admin, a committee or supervisor with no partner) keep every partner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, Request
from sqlalchemy import select, text

from hub.api.app import create_app
from hub.runtime import Hub
from hub.web.deps import current_user
from plumbing.auth.dependencies import current_principal
from plumbing.auth.service import Principal
from plumbing.db.scope import tenant_scope
from plumbing.db.session import unit_of_work
from tenants.agreements.service import put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.models import Agent
from tenants.tokens import create_token
from tests.conftest import unique_slug
from tests.hub.web.conftest import make_user, sign_in_client


async def _seen(request: Request) -> dict[str, Any]:
    """What this request's own transactions see: the scope set, and whose agents RLS lets through."""
    async with request.app.state.hub.sessionmaker() as session:
        scope = await session.scalar(text("SELECT current_setting('hub.tenant', true)"))
        tenants = set((await session.scalars(select(Agent.tenant_slug).distinct())).all())
    return {"scope": scope, "tenants": sorted(tenants)}


@pytest.fixture
async def probed(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """The hub's app with two probe routes that deliberately make no partner check of their own."""
    app = create_app(hub)

    async def api_probe(
        request: Request, _principal: Principal = Depends(current_principal)
    ) -> dict[str, Any]:
        return await _seen(request)

    async def page_probe(request: Request, _user: Any = Depends(current_user)) -> dict[str, Any]:
        return await _seen(request)

    app.add_api_route("/test-probe/api", api_probe)
    app.add_api_route("/test-probe/page", page_probe)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:
        yield client


async def test_each_request_sees_only_its_callers_partner_and_agreement_partners(
    hub: Hub, make_partner, probed: httpx.AsyncClient
) -> None:
    borrower, lender, stranger = (
        await make_partner("borrower"),
        await make_partner("lender"),
        await make_partner("stranger"),
    )
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {"id": unique_slug("agr"), "lender": lender.slug, "borrower": borrower.slug}
                )
            ],
        )
        tokens = {
            "lender agent": await create_token(session, role="agent", agent_id=lender.agents[0]),
            "borrower supervisor": await create_token(session, role="supervisor", tenant=borrower.slug),
            "stranger partner": await create_token(session, role="partner", tenant=stranger.slug),
            "stranger committee": await create_token(session, role="committee", tenant=stranger.slug),
            "hub-wide committee": await create_token(session, role="committee"),
            "admin": await create_token(session, role="admin"),
        }
    ours = {borrower.slug, lender.slug, stranger.slug}
    expected = {
        "lender agent": {lender.slug, borrower.slug},  # overflow: the borrower's rows, under the agreement
        "borrower supervisor": {borrower.slug, lender.slug},
        "stranger partner": {stranger.slug},
        "stranger committee": {stranger.slug},
        "hub-wide committee": None,
        "admin": None,
    }
    for who, token in tokens.items():
        r = await probed.get("/test-probe/api", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, (who, r.text)
        seen = r.json()
        want = expected[who]
        if want is None:
            assert seen["scope"] == "*", who
            assert ours <= set(seen["tenants"]), who
        else:
            assert set(seen["scope"].split(",")) == want, (who, seen["scope"])
            assert set(seen["tenants"]) == want, (who, seen["tenants"])

    # Signed-in people (web sessions) are narrowed the same way.
    login = await make_user(hub, role="agent", tenant=stranger.slug, agent_id=stranger.agents[0])
    await sign_in_client(probed, login)
    r = await probed.get("/test-probe/page")
    assert r.status_code == 200, r.text
    assert r.json() == {"scope": stranger.slug, "tenants": [stranger.slug]}

    # Unauthenticated requests never reach a narrowed scope's data: the probe refuses them first.
    probed.cookies.clear()
    assert (await probed.get("/test-probe/api")).status_code == 401


async def test_the_shared_caches_load_every_partner_even_when_a_narrowed_request_reloads_them(
    hub: Hub, make_partner
) -> None:
    """The catalogue and agreements caches are the process's, not the request's: a reload set off inside one
    partner's request (a catalogue a minute old, a partner added) must still read every partner's rows."""
    mine, lender, borrower = (
        await make_partner("mine"),
        await make_partner("lender"),
        await make_partner("borrower"),
    )
    theirs = unique_slug("agr")  # between two other partners: outside mine's scope
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {"id": theirs, "lender": lender.slug, "borrower": borrower.slug}
                )
            ],
        )
    with tenant_scope({mine.slug}):
        catalogue = await hub.catalogue.reload()
        agreements = await hub.dispatcher.agreements.reload()
    assert {mine.slug, lender.slug, borrower.slug} <= set(catalogue.tenants)
    assert catalogue.service(lender.slug, "missed-bin") is not None  # services have RLS; tenants do not
    assert theirs in {a.id for a in agreements}
