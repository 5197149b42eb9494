"""tenants/queries.py: the reads the pages and routes make of partners, services and agents."""

from __future__ import annotations

from sqlalchemy import update

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.models import Agent
from tenants.queries import (
    agent_by_id,
    agent_names,
    agent_status,
    agents_by_status,
    agents_of,
    catalogue_skills,
    first_partner,
    partners_and_pool,
    service_by_id,
    service_definition,
    services_of,
    tenant_by_slug,
    tenants_ordered,
)
from tenants.service import apply_definitions
from tests.conftest import partner_definition, unique_slug


async def test_a_partners_agents_services_and_skills(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner("queries", agents=3)
    first, second, third = partner.agents
    async with unit_of_work(hub.sessionmaker) as session:
        # names that sort otherwise than the ids, and two agents signed in
        for agent_id, name, status in (
            (first, "Zoe Ward", "offline"),
            (second, "Adam Bell", "available"),
            (third, "Mo Khan", "available"),
        ):
            await session.execute(update(Agent).where(Agent.id == agent_id).values(name=name, status=status))
    async with hub.sessionmaker() as session:
        assert [a.id for a in await agents_of(session, partner.slug, by="id")] == [first, second, third]
        assert [a.name for a in await agents_of(session, partner.slug, by="name")] == [
            "Adam Bell",
            "Mo Khan",
            "Zoe Ward",
        ]
        assert await agent_names(session, {first, third, "nobody"}) == {first: "Zoe Ward", third: "Mo Khan"}
        assert await agent_names(session, set()) == {}
        assert await agent_status(session, second) == "available"
        assert await agent_status(session, "nobody") is None
        found = await agent_by_id(session, first)
        assert found is not None and found.tenant_slug == partner.slug
        assert await agent_by_id(session, None) is None
        counts = {(status, n) for slug, status, n in await agents_by_status(session) if slug == partner.slug}
        assert counts == {("offline", 1), ("available", 2)}

        services = await services_of(session, partner.slug)
        assert [s.code for s in services] == ["general", "missed-bin", "council-tax"]  # as defined
        bins = await service_by_id(session, services[1].id)
        assert bins is not None and bins.name == "Missed bin"
        definition = await service_definition(session, partner.slug, "missed-bin")
        assert definition is not None and definition["lgsl"] == 524
        assert await service_definition(session, partner.slug, "no-such-service") is None
        assert await catalogue_skills(session, partner.slug) == {"general", "waste", "revenues"}


async def test_partners_and_the_pool_in_the_order_pages_show_them(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner("ordered", agents=0)
    pool = unique_slug("pool")
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[partner_definition(pool, [], kind="pool")])
    async with hub.sessionmaker() as session:
        tenant = await tenant_by_slug(session, partner.slug)
        assert tenant is not None and tenant.name == f"Test partner {partner.slug}"
        assert await tenant_by_slug(session, "nobody") is None

        [only] = await partners_and_pool(session, only=partner.slug)
        assert only.slug == partner.slug
        shown = await partners_and_pool(session)
        kinds = [t.kind for t in shown]
        partners = [t.name for t in shown if t.kind == "partner"]
        # every partner by name, then the pools
        assert kinds == sorted(kinds, key=lambda kind: kind != "partner") and partners == sorted(partners)
        assert {partner.slug, pool} <= {t.slug for t in shown}

        # the database's collation orders them, so only slugs and names that differ early are compared
        by_slug = [t.slug for t in await tenants_ordered(session, by="slug")]
        by_name = [t.name for t in await tenants_ordered(session, by="name")]
        assert by_slug.index(partner.slug) < by_slug.index(pool)  # "ordered-…" before "pool-…"
        assert by_name.index(f"Test partner {partner.slug}") < by_name.index(f"Test partner {pool}")
        lowest = await first_partner(session)
        partners_by_slug = [t.slug for t in await tenants_ordered(session, by="slug") if t.kind == "partner"]
        assert lowest is not None and lowest.slug == partners_by_slug[0]
