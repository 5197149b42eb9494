"""Data-sharing agreements as documents: the example, what a file may say, the errors an operator reads, the
checks against partners and each other, `hub tenants load`, and the API (problem documents for refusals)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from hub.runtime import Hub
from plumbing.db.scope import tenant_scope
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from tenants.agreements.loader import load_data_sharing_files
from tenants.agreements.sharing import DataSharingDefinition, check_data_sharing
from tenants.agreements.sharing_service import readable_data_sharing
from tenants.loader import DefinitionsInvalid, load_definitions
from tenants.tokens import create_token
from tests.helpers_examples import EXAMPLES
from tests.tenants.test_cli import _hub_command


def _sharing(**changes: object) -> DataSharingDefinition:
    base: dict[str, object] = {
        "id": "a-and-b",
        "parties": ["a", "b"],
        "fields": ["reference", "status"],
        "purpose": "tell residents where their enquiries stand",
        "signed_on": "2026-03-01",
        "starts": "2026-04-01",
        "ends": "2027-03-31",
    }
    return DataSharingDefinition.model_validate(base | changes)


def test_the_example_is_a_mutual_agreement_between_chorley_and_lancashire_in_force_on_its_days() -> None:
    found, labels = load_data_sharing_files(EXAMPLES)
    assert labels == [f"{EXAMPLES / 'data-sharing.yaml'}: data_sharing[0]"]
    (example,) = found
    assert example.id == "chorley-lancashire-joined-up"
    assert example.pairs() == {("chorley", "lancashire"), ("lancashire", "chorley")}
    assert example.fields == ["reference", "service", "channel", "date", "status"]
    # The partner loader passes the file by (it is an agreements document), so the examples still load.
    assert sorted(d.tenant.slug for d in load_definitions(EXAMPLES)) == [
        "chorley",
        "hub",
        "lancashire",
        "south-ribble",
    ]
    # Both days included, in Europe/London: British Summer Time (UTC+1) runs from 29 March 2026 and 26 March 2028.
    assert not example.in_force(datetime(2026, 3, 31, 22, 59, tzinfo=UTC))  # 23:59 on 31 March, London
    assert example.in_force(datetime(2026, 3, 31, 23, 0, tzinfo=UTC))  # 00:00 on 1 April, London
    assert example.in_force(datetime(2028, 3, 31, 22, 59, tzinfo=UTC))  # 23:59 on 31 March 2028, London
    assert not example.in_force(datetime(2028, 3, 31, 23, 0, tzinfo=UTC))  # 00:00 on 1 April 2028


def test_one_direction_when_the_agreement_says_so() -> None:
    assert _sharing().pairs() == {("a", "b"), ("b", "a")}
    assert _sharing(shares=["a"], sees=["b"]).pairs() == {("a", "b")}
    three = _sharing(parties=["a", "b", "c"], shares=["a"])
    assert three.pairs() == {("a", "b"), ("a", "c")}  # a shares with both; b and c see nothing of each other


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"fields": ["reference", "notes"]},
            "Input should be 'reference', 'service', 'channel', 'date', 'status'",
        ),
        ({"ends": "2026-03-31"}, "`ends` is before `starts`"),
        ({"shares": ["c"]}, "`shares` names c, not a party to the agreement"),
        ({"parties": ["a"]}, "List should have at least 1 item after validation, not 1"),
        ({"shares": ["a"], "sees": ["a"]}, "nobody sees anybody's contacts"),
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"fields": []}, "List should have at least 1 item"),
        ({"purpose": ""}, "String should have at least 1 character"),
    ],
)
def test_a_file_with_a_bad_agreement_loads_nothing_and_says_which_file_agreement_and_key(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    item = {
        "id": "bad-one",
        "parties": ["a", "b"],
        "fields": ["reference"],
        "purpose": "p",
        "signed_on": "2026-03-01",
        "starts": "2026-04-01",
        "ends": "2027-03-31",
    } | change
    file = tmp_path / "sharing.yaml"
    file.write_text(yaml.safe_dump({"data_sharing": [item]}), encoding="utf-8")
    with pytest.raises(DefinitionsInvalid) as caught:
        load_data_sharing_files(tmp_path)
    said = str(caught.value)
    if message.startswith("List should have at least 1 item after"):
        message = "List should have at least 2 items after validation, not 1"
    assert said.startswith(f"{file}: data_sharing, item 1 (id bad-one)"), said
    assert message in said, said


def test_an_unknown_top_level_key_beside_data_sharing_is_refused_once(tmp_path: Path) -> None:
    file = tmp_path / "sharing.yaml"
    file.write_text(yaml.safe_dump({"data_sharing": [], "data_shraing": []}), encoding="utf-8")
    from tenants.agreements.loader import load_agreement_files

    with pytest.raises(DefinitionsInvalid) as caught:
        load_agreement_files(tmp_path)
    assert (
        str(caught.value)
        == f"{file}: data_shraing: unknown key 'data_shraing': check its spelling, or remove it"
    )
    assert load_data_sharing_files(tmp_path) == ([], [])


def test_unknown_partners_duplicate_ids_and_overlapping_agreements_are_refused() -> None:
    problems = check_data_sharing(
        [
            _sharing(),
            _sharing(id="a-and-b", parties=["a", "z"]),
            # b sees a's contacts in both, from 1 January 2027 to 31 March 2027: overlapping days
            _sharing(id="later", starts="2027-01-01", ends="2027-12-31", shares=["a"], sees=["b"]),
            # the other direction only (a sees b's), after the first ends: it overlaps neither
            _sharing(id="after", starts="2027-04-01", ends="2027-12-31", shares=["b"], sees=["a"]),
        ],
        {"a", "b"},
    )
    assert [(p.path, p.message) for p in problems] == [
        ("data_sharing[1].id", "data-sharing agreement id 'a-and-b' is used twice"),
        ("data_sharing[1].parties", "unknown partner 'z'"),
        (
            "data_sharing[0]",
            "'a-and-b' overlaps 'later' (b sees a's contacts in both, on the same days): one agreement must "
            "decide, so end one before the other starts",
        ),
    ]


async def test_hub_tenants_load_stores_the_data_sharing_agreements_beside_the_partners(
    hub: Hub, settings: Settings, tmp_path: Path
) -> None:
    from tests.conftest import unique_slug
    from tests.helpers_examples import example_raw

    slugs = []
    for name in ("chorley", "lancashire"):
        raw = example_raw(name)
        raw["tenant"]["slug"] = unique_slug(name)
        raw["agents"] = []
        slugs.append(raw["tenant"]["slug"])
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    example = yaml.safe_load((EXAMPLES / "data-sharing.yaml").read_text(encoding="utf-8"))
    example["data_sharing"][0]["id"] = f"{slugs[0]}-joined-up"
    example["data_sharing"][0]["parties"] = slugs
    (tmp_path / "sharing.yaml").write_text(yaml.safe_dump(example), encoding="utf-8")
    result = _hub_command(settings, "tenants", "load", str(tmp_path))
    assert result.returncode == 0, result.stderr
    said = f"loaded 1 data-sharing agreement: Chorley and Lancashire joined-up customer view ({slugs[0]}-joined-up)"
    assert said in result.stdout
    async with hub.sessionmaker() as session:
        stored = {a.id: a for a in await readable_data_sharing(session)}
    assert stored[f"{slugs[0]}-joined-up"].parties == slugs

    # A party that is not a partner: nothing is loaded, and the error names the file and the agreement.
    example["data_sharing"][0]["id"] = f"{slugs[0]}-with-nobody"
    example["data_sharing"][0]["parties"] = [slugs[0], "nobody-at-all"]
    (tmp_path / "sharing.yaml").write_text(yaml.safe_dump(example), encoding="utf-8")
    result = _hub_command(settings, "tenants", "load", str(tmp_path))
    assert result.returncode == 2
    assert (
        f"error: {tmp_path / 'sharing.yaml'}: data_sharing[0].parties: unknown partner 'nobody-at-all'"
        in result.stderr
    ), result.stderr


async def test_the_api_shows_a_partner_the_agreements_it_signed_and_refuses_with_problem_documents(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    a, b, c = await make_partner("ds-a"), await make_partner("ds-b"), await make_partner("ds-c")
    async with unit_of_work(hub.sessionmaker) as session:
        admin = {"Authorization": f"Bearer {await create_token(session, role='admin')}"}
        of_c = {"Authorization": f"Bearer {await create_token(session, role='supervisor', tenant=c.slug)}"}
        of_a = {"Authorization": f"Bearer {await create_token(session, role='committee', tenant=a.slug)}"}
    body = _sharing(id=f"{a.slug}-b", parties=[a.slug, b.slug]).model_dump(mode="json")
    r = await api.put(f"/api/v1/admin/data-sharing/{a.slug}-b", json=body, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["starts"] == "2026-04-01" and r.json()["fields"] == ["reference", "status"]

    # Row-level security: the row is seen in a party's scope, not in a third partner's.
    for scope, rows in ((a.slug, 1), (b.slug, 1), (c.slug, 0)):
        with tenant_scope(scope):
            async with hub.sessionmaker() as session:
                assert [x.id for x in await readable_data_sharing(session)] == [f"{a.slug}-b"] * rows

    mine = await api.get("/api/v1/data-sharing", headers=of_a)
    assert [x["id"] for x in mine.json()] == [f"{a.slug}-b"]
    assert (await api.get("/api/v1/data-sharing", headers=of_c)).json() == []
    r = await api.get(f"/api/v1/data-sharing/{a.slug}-b", headers=of_c)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "not_found"

    # Refusals: a partner writing, an unknown party, an overlap, a mismatched id; each a problem document.
    assert (
        await api.put(f"/api/v1/admin/data-sharing/{a.slug}-b", json=body, headers=of_a)
    ).status_code == 403
    r = await api.put(
        f"/api/v1/admin/data-sharing/{a.slug}-x",
        json=body | {"id": f"{a.slug}-x", "parties": [a.slug, "nope"]},
        headers=admin,
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "agreement_refused"
    assert r.json()["problems"] == [{"path": "agreement.parties", "message": "unknown partner 'nope'"}]
    r = await api.put(
        f"/api/v1/admin/data-sharing/{a.slug}-y", json=body | {"id": f"{a.slug}-y"}, headers=admin
    )
    assert r.status_code == 422 and "overlaps" in r.json()["detail"]
    r = await api.put("/api/v1/admin/data-sharing/other-id", json=body, headers=admin)
    assert r.status_code == 422 and r.json()["problems"][0]["path"] == "id"
    r = await api.put(
        f"/api/v1/admin/data-sharing/{a.slug}-b", json=body | {"fields": ["notes"]}, headers=admin
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"

    assert (await api.delete(f"/api/v1/admin/data-sharing/{a.slug}-b", headers=admin)).status_code == 204
    r = await api.delete(f"/api/v1/admin/data-sharing/{a.slug}-b", headers=admin)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert (await api.get("/api/v1/data-sharing", headers=of_a)).json() == []
