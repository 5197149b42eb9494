"""Partner definitions: the example files are complete and valid; bad ones are refused with file, path, reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenants.lgsl import lgsl_entry, lgsl_list
from tenants.loader import DefinitionsInvalid, load_definitions
from tenants.schemas import PartnerDefinition
from tests.helpers_examples import EXAMPLES, PARTNER_EXAMPLES, example_raw


def test_the_lgsl_list_ships_with_the_package() -> None:
    entries = lgsl_list()
    assert len(entries) > 1000
    assert lgsl_entry(524) is not None and lgsl_entry(524).label == "Household waste collection"  # type: ignore[union-attr]
    assert lgsl_entry(587).label == "Flytipping"  # type: ignore[union-attr]


def test_every_example_is_valid_and_complete() -> None:
    definitions = {d.tenant.slug: d for d in load_definitions(EXAMPLES)}
    assert set(definitions) == {"chorley", "south-ribble", "lancashire", "hub"}
    assert definitions["hub"].tenant.kind == "pool"
    for name in PARTNER_EXAMPLES:
        definition = definitions[name]
        assert definition.tenant.jurisdiction_id == name
        codes = [s.code for s in definition.services]
        assert "general" in codes
        hours = definition.hours()
        assert set(hours.channels) | ({"default"} if hours.default else set())
        for service in definition.services:
            assert service.code == "general" or lgsl_entry(service.lgsl) is not None
            assert service.skills, service.code
            assert service.resolution_working_days is not None, service.code
            assert service.adapter, service.code
            assert service.keywords, service.code
        assert any(a.required for s in definition.services for a in s.attributes)
        assert any(not s.open311 for s in definition.services) or name == "chorley"
        # Every service has an agent of the partner (or the hub pool) with its skills.
        agent_skills = [set(a.skills) for a in definition.agents]
        for service in definition.services:
            assert any(set(service.skills) <= skills for skills in agent_skills), service.code


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("tenant: {slug: Bad Slug, name: X}\n", "tenant.slug", "should match pattern"),
        ("tenant: {slug: x, name: X, timezone: Mars/Olympus}\n", "tenant.timezone", "unknown time zone"),
        (
            "tenant: {slug: x, name: X}\nopening_hours: {phone: {mondays: '09:00-17:00'}}\n",
            "opening_hours.phone",
            "unknown day 'mondays'",
        ),
        (
            "tenant: {slug: x, name: X}\nopening_hours: {phone: {mon: '17:00-09:00'}}\n",
            "opening_hours.phone",
            "ends before it starts",
        ),
        (
            "tenant: {slug: x, name: X}\nopening_hours: {fax: always}\n",
            "opening_hours.fax",
            "unknown key 'fax'",
        ),
        ("tenant: {slug: x, name: X}\nbank_holidays: scotland\n", "bank_holidays", "Input should be"),
        (
            "tenant: {slug: x, name: X}\nclosures: [{date: 2026-12-24, closed_from: '18:00', closed_until: '12:00'}]\n",
            "closures[0]",
            "ends before it starts",
        ),
        (
            "tenant: {slug: x, name: X}\nservices: [{code: general, name: G}, {code: bins, name: Bins, lgsl: 99999}]\n",
            "services[1].lgsl",
            "not in the Local Government Service List",
        ),
        (
            "tenant: {slug: x, name: X}\nservices: [{code: general, name: G}, {code: bins, name: Bins}]\n",
            "services[1]",
            "needs an lgsl code",
        ),
        (
            "tenant: {slug: x, name: X}\nservices: [{code: bins, name: Bins, lgsl: 524}]\n",
            "",
            "needs a 'general' service",
        ),
        (
            "tenant: {slug: x, name: X}\nservices: [{code: general, name: G, attributes: [{code: t, description: T, datatype: singlevaluelist}]}]\n",
            "services[0].attributes[0]",
            "needs values",
        ),
        (
            "tenant: {slug: x, name: X}\nservices: [{code: general, name: G, attributes: [{code: t, description: T, datatype: colour}]}]\n",
            "services[0].attributes[0].datatype",
            "Input should be",
        ),
        (
            "tenant: {slug: x, name: X}\nservices: [{code: general, name: G, attributes: [{code: 'a b', description: T}]}]\n",
            "services[0].attributes[0].code",
            "should match pattern",
        ),
        (
            "tenant: {slug: x, name: X}\nservices: [{code: general, name: G, shared_customer_fields: [bank_details]}]\n",
            "services[0].shared_customer_fields[0]",
            "Input should be",
        ),
        (
            "tenant: {slug: x, name: X}\nservices: [{code: general, name: G, service_level: {answer_within_seconds: 0}}]\n",
            "services[0].service_level.answer_within_seconds",
            "greater than 0",
        ),
        (
            "tenant: {slug: x, name: X}\nservices: [{code: general, name: G}, {code: general, name: H}]\n",
            "",
            "duplicate service code 'general'",
        ),
        ("tenant: {slug: x, name: X}\nclosures: [{date: 2026-02-30}]\n", "", "not valid YAML"),
        ("- just a list\n", "", "expected a mapping"),
    ],
)
def test_errors_name_the_file_the_path_and_the_problem(
    tmp_path: Path, text: str, path: str, message: str
) -> None:
    file = _write(tmp_path, "partner.yaml", text)
    with pytest.raises(DefinitionsInvalid) as caught:
        load_definitions(tmp_path)
    errors = caught.value.errors
    assert any(e.file == str(file) and e.path == path and message in e.message for e in errors), [
        str(e) for e in errors
    ]
    assert str(file) in str(caught.value)


def test_every_problem_in_every_file_is_reported_and_nothing_is_returned(tmp_path: Path) -> None:
    good = example_raw("chorley")
    import yaml

    _write(tmp_path, "a-good.yaml", yaml.safe_dump(good))
    _write(
        tmp_path,
        "b-bad.yaml",
        "tenant: {slug: b, name: B}\nservices: [{code: x, name: X, lgsl: 1, priority: 12}]\n",
    )
    _write(tmp_path, "c-twice.yaml", yaml.safe_dump(good))
    with pytest.raises(DefinitionsInvalid) as caught:
        load_definitions(tmp_path)
    text = str(caught.value)
    assert "b-bad.yaml: services, item 1 (code x), priority" in text
    assert "tenant 'chorley' is defined twice" in text


def test_required_fields_shorthand_becomes_a_required_attribute() -> None:
    definition = PartnerDefinition.model_validate(
        {
            "tenant": {"slug": "x", "name": "X"},
            "services": [
                {"code": "general", "name": "G"},
                {"code": "council-tax", "name": "CT", "lgsl": 58, "required_fields": ["account_number"]},
            ],
        }
    )
    attribute = definition.services[1].attributes[0]
    assert (attribute.code, attribute.required, attribute.datatype) == ("account_number", True, "string")


def test_digest_changes_with_the_catalogue_and_not_with_agents() -> None:
    from tests.helpers_examples import example_definition

    one = example_definition("chorley", "digest-x")
    same_but_agents = example_definition("chorley", "digest-x", agents=[])
    other = example_definition("chorley", "digest-x", bank_holidays="none")
    assert one.catalogue_digest() == same_but_agents.catalogue_digest()
    assert one.catalogue_digest() != other.catalogue_digest()
