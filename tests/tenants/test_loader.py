"""Partner definitions: clear errors naming file and path, nothing half-loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.loader import DefinitionsInvalid, load_definitions
from tenants.models import Agent, Tenant
from tenants.service import apply_definitions
from tests.conftest import unique_slug

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def test_the_examples_load() -> None:
    definitions = load_definitions(EXAMPLES)
    slugs = {d.tenant.slug for d in definitions}
    assert {"chorley", "south-ribble", "lancashire", "hub"} <= slugs


def test_errors_name_the_file_and_the_path(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "tenant: {slug: Bad Slug, name: X}\nservices:\n  - {code: ok, name: OK, priority: 12}\n"
    )
    (tmp_path / "b.yaml").write_text("tenant: [unclosed\n")
    with pytest.raises(DefinitionsInvalid) as caught:
        load_definitions(tmp_path)
    text = str(caught.value)
    assert "a.yaml: tenant.slug:" in text
    assert "a.yaml: services, item 1 (code ok), priority:" in text
    assert "b.yaml: not valid YAML" in text


def test_unknown_keys_and_duplicates_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("tenant: {slug: a, name: A, colour: blue}\n")
    (tmp_path / "b.yaml").write_text(
        "tenant: {slug: b, name: B}\nservices:\n  - {code: x, name: X, lgsl: 524}\n  - {code: x, name: Y, lgsl: 524}\n"
    )
    with pytest.raises(DefinitionsInvalid) as caught:
        load_definitions(tmp_path)
    assert "a.yaml: tenant: unknown key 'colour': check its spelling, or remove it" in str(caught.value)
    assert "b.yaml: duplicate service code 'x'" in str(caught.value)


async def test_nothing_is_half_loaded(hub: Hub, tmp_path: Path) -> None:
    good, bad = unique_slug("good"), unique_slug("bad")
    (tmp_path / "1-good.yaml").write_text(
        f"tenant: {{slug: {good}, name: Good}}\nagents:\n  - {{id: {good}-a, name: A}}\n"
    )
    (tmp_path / "2-bad.yaml").write_text(f"tenant: {{slug: {bad}, name: Bad, timezone: Mars/Olympus}}\n")
    with pytest.raises(DefinitionsInvalid) as caught:
        load_definitions(tmp_path)
    assert "unknown time zone" in str(caught.value)
    async with hub.sessionmaker() as session:
        assert await session.get(Tenant, good) is None


async def test_loading_twice_updates_in_place(hub: Hub, tmp_path: Path) -> None:
    slug = unique_slug("twice")
    path = tmp_path / "p.yaml"
    path.write_text(
        f"tenant: {{slug: {slug}, name: First}}\nagents:\n  - {{id: {slug}-a, name: A, skills: [waste]}}\n"
    )
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=load_definitions(path))
    path.write_text(
        f"tenant: {{slug: {slug}, name: Second}}\nagents:\n  - {{id: {slug}-a, name: A, skills: [waste, revenues]}}\n"
    )
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=load_definitions(path))
    async with hub.sessionmaker() as session:
        tenant = await session.get(Tenant, slug)
        agents = (await session.scalars(select(Agent).where(Agent.tenant_slug == slug))).all()
        assert tenant is not None and tenant.name == "Second"
        assert [a.skills for a in agents] == [["revenues", "waste"]]
