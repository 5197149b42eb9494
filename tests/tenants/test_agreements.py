"""Agreements: the example file loads; bad ones are refused with a clear error and change nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from hub.api.app import create_app
from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.agreements.loader import load_agreement_files
from tenants.agreements.models import AgreementVersion
from tenants.agreements.service import (
    AgreementAsItWas,
    AgreementsInvalid,
    agreements_as_of,
    list_agreements,
    put_agreements,
)
from tenants.agreements.terms import AgreementDefinition, check_agreements, parse_agreements
from tenants.loader import load_definitions
from tenants.tokens import create_token
from tests.conftest import unique_slug
from tests.helpers_problems import problem_fields

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def test_the_examples_load_together() -> None:
    partners = load_definitions(EXAMPLES)
    agreements, labels = load_agreement_files(EXAMPLES)
    assert {p.tenant.slug for p in partners} == {"chorley", "south-ribble", "lancashire", "hub"}
    assert "hub-evenings-chorley" in {a.id for a in agreements} and len(labels) == len(agreements)
    catalogue = {p.tenant.slug: {s.code for s in p.services} for p in partners}
    assert check_agreements(agreements, catalogue) == []


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "agreements:\n  - {id: a, lender: x, borrower: y, caps: {per_hour: -1}}\n",
            "greater than or equal to 0",
        ),
        ("agreements:\n  - {id: a, lender: x, borrower: x}\n", "cannot lend to itself"),
        (
            "agreements:\n  - {id: a, lender: x, borrower: y, actions: [offer_callback, voicemail]}\n",
            "contradict",
        ),
        ("agreements:\n  - {id: a, lender: x, borrower: y, surprise: 1}\n", "unknown key 'surprise'"),
        (
            "agreements:\n  - {id: a, lender: x, borrower: y, hours: [{days: [mon], from: '9:00', to: '9:00'}]}\n",
            "empty",
        ),
    ],
)
def test_bad_fields_are_refused_with_their_path(yaml_text: str, expected: str) -> None:
    agreements, problems = parse_agreements(yaml_text, "f.yaml")
    assert agreements == [] and problems
    assert any(expected in p.message for p in problems), problems


def test_unknown_partners_services_and_overlaps() -> None:
    catalogue = {"chorley": {"missed-bin"}, "hub": set()}

    def make(**fields: object) -> AgreementDefinition:
        return AgreementDefinition.model_validate(fields)

    problems = check_agreements(
        [
            make(id="a", lender="nobody", borrower="chorley", services=["nope"]),
            make(
                id="b",
                lender="hub",
                borrower="chorley",
                hours=[{"days": ["mon"], "from": "18:00", "to": "22:00"}],
            ),
            make(
                id="c",
                lender="hub",
                borrower="chorley",
                hours=[{"days": ["mon"], "from": "21:00", "to": "23:00"}],
            ),
            make(
                id="d",
                lender="hub",
                borrower="chorley",
                hours=[{"days": ["tue"], "from": "21:00", "to": "23:00"}],
            ),
        ],
        catalogue,
    )
    messages = [f"{p.path}: {p.message}" for p in problems]
    assert any("unknown partner 'nobody'" in m for m in messages)
    assert any("has no service 'nope'" in m for m in messages)
    assert any("'b' overlaps 'c'" in m for m in messages)
    assert not any("'d'" in m for m in messages), "another day does not overlap"


async def test_admin_api_stores_refuses_and_deletes(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    lender, borrower = await make_partner("south-ribble"), await make_partner("chorley")
    async with unit_of_work(hub.sessionmaker) as session:
        admin = await create_token(session, role="admin")
        supervisor = await create_token(session, role="supervisor", tenant=borrower.slug)
    body = {
        "id": f"lend-{borrower.slug}",
        "lender": lender.slug,
        "borrower": borrower.slug,
        "caps": {"concurrent": 2},
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub)), base_url="http://hub"
    ) as api:
        as_admin = {"Authorization": f"Bearer {admin}"}
        r = await api.put(
            f"/api/v1/admin/agreements/{body['id']}",
            json=body,
            headers={"Authorization": f"Bearer {supervisor}"},
        )
        assert r.status_code == 403
        r = await api.put(f"/api/v1/admin/agreements/{body['id']}", json=body, headers=as_admin)
        assert r.status_code == 200, r.text
        bad = {**body, "id": f"bad-{borrower.slug}", "services": ["no-such-service"]}
        r = await api.put(f"/api/v1/admin/agreements/{bad['id']}", json=bad, headers=as_admin)
        assert r.status_code == 422 and "no service 'no-such-service'" in r.text
        overlapping = {**body, "id": f"twice-{borrower.slug}"}
        r = await api.put(f"/api/v1/admin/agreements/{overlapping['id']}", json=overlapping, headers=as_admin)
        assert r.status_code == 422 and "overlaps" in r.text
        r = await api.get("/api/v1/admin/agreements", headers=as_admin)
        mine = [a for a in r.json() if a["borrower"] == borrower.slug]
        assert [a["id"] for a in mine] == [body["id"]] and mine[0]["caps"]["concurrent"] == 2
        assert (
            await api.delete(f"/api/v1/admin/agreements/{body['id']}", headers=as_admin)
        ).status_code == 204
        gone = await api.delete(f"/api/v1/admin/agreements/{body['id']}", headers=as_admin)
        assert problem_fields(gone) == {
            "type": "urn:hub:problem:not_found",
            "title": "Not Found",
            "status": 404,
            "code": "not_found",
        }
        assert gone.json()["detail"] == f"no agreement {body['id']!r}"
        unknown = await api.get(f"/api/v1/admin/agreements/{body['id']}", headers=as_admin)
        assert problem_fields(unknown) == problem_fields(gone)
        elsewhere = await api.put(
            f"/api/v1/admin/agreements/other-{borrower.slug}", json=body, headers=as_admin
        )
        assert problem_fields(elsewhere) == {
            "type": "urn:hub:problem:agreement_refused",
            "title": "Unprocessable Entity",
            "status": 422,
            "code": "agreement_refused",
        }
        assert elsewhere.json()["problems"] == [
            {"path": "id", "message": f"the body's id {body['id']!r} is not 'other-{borrower.slug}'"}
        ]
    async with unit_of_work(hub.sessionmaker) as session:
        with pytest.raises(AgreementsInvalid):
            await put_agreements(
                session, agreements=[AgreementDefinition.model_validate({**body, "lender": "ghost"})]
            )
    async with hub.sessionmaker() as session:
        assert borrower.slug not in {a.borrower for a in await list_agreements(session)}


async def test_agreements_as_of_a_moment_keep_the_name_they_had_and_an_ended_one_is_still_named(
    hub: Hub,
) -> None:
    """Versions written by hand at known moments: named "the first name" on 1 October, renamed "the second name"
    on 1 November, ended on 1 December (no row left). Before 1 October it goes by its first name; in October by
    the first; in November and after its ending by the second; its parties throughout."""
    agreement = unique_slug("as-of")
    versions = [
        (datetime(2026, 10, 1, tzinfo=UTC), {"name": "the first name", "unit_rate": 1.0}),
        (datetime(2026, 11, 1, tzinfo=UTC), {"name": "the second name", "unit_rate": 2.0}),
        (datetime(2026, 12, 1, tzinfo=UTC), None),
    ]
    async with unit_of_work(hub.sessionmaker) as session:
        for valid_from, definition in versions:
            session.add(
                AgreementVersion(
                    agreement_id=agreement,
                    lender_slug="lender",
                    borrower_slug="borrower",
                    definition=definition,
                    valid_from=valid_from,
                )
            )
    found = {}
    async with hub.sessionmaker() as session:
        for day in (date(2026, 9, 15), date(2026, 10, 15), date(2026, 11, 15), date(2026, 12, 15)):
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            found[day.month] = (await agreements_as_of(session, moment))[agreement]
    first = AgreementAsItWas("the first name", "lender", "borrower")
    second = AgreementAsItWas("the second name", "lender", "borrower")
    assert found == {9: first, 10: first, 11: second, 12: second}
