"""Bad scenario files: every problem names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from whatif.scenario import ScenarioInvalid, load_scenario, parse_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "scenarios"

GOOD = """\
period: {start: 2026-11-16T08:00:00Z, end: 2026-11-16T18:00:00Z}
partners:
  - slug: chorley
    services: [{code: general}]
arrivals:
  - partner: chorley
    service: general
    per_interval: 10
rotas:
  - partner: chorley
    agents: 3
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioInvalid) as caught:
        parse_scenario(text, "whatif.yaml")
    return caught.value.problems


def test_the_good_file_loads() -> None:
    scenario = parse_scenario(GOOD, "whatif.yaml")
    assert set(scenario.services) == {"chorley/", "chorley/general"}


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        (
            "  - partner: chorley\n    service",
            "  - partner: preston\n    service",
            6,
            "unknown partner 'preston'",
        ),
        ("service: general", "service: bins", 7, "'chorley' has no service 'bins'"),
        ("per_interval: 10", "per_interval: -4", 8, "cannot be negative"),
        ("per_interval: 10", "per_interval: [5, -1]", 8, "cannot be negative"),
        ("    agents: 3", "    agents: 0", 11, "greater than 0"),
        (
            "  - partner: chorley\n    agents",
            "  - partner: leyland\n    agents",
            10,
            "unknown partner 'leyland'",
        ),
    ],
)
def test_a_bad_value_names_its_line(old: str, new: str, line: int, words: str) -> None:
    found = problems(GOOD.replace(old, new))
    assert any(f"whatif.yaml, line {line}" in p and words in p for p in found), found


def test_an_empty_rota_names_its_line() -> None:
    text = GOOD.split("rotas:")[0] + "rotas: []\n"
    found = problems(text)
    assert any("whatif.yaml, line 9" in p and "rotas" in p for p in found), found


def test_an_agreement_with_an_unknown_partner_names_its_line() -> None:
    text = GOOD + "agreements:\n  - id: help\n    lender: nowhere\n    borrower: chorley\n"
    found = problems(text)
    assert any("line 14" in p and "unknown partner 'nowhere'" in p for p in found), found


def test_broken_yaml_names_its_line() -> None:
    found = problems(GOOD.replace("    agents: 3", "    agents: [3"))
    assert any("whatif.yaml, line" in p and "not valid YAML" in p for p in found), found


def test_characters_yaml_cannot_carry_are_refused_not_raised() -> None:
    found = problems("\x8a" + GOOD)  # schemathesis found this one: a control character in a what-if body
    assert any("not valid YAML" in p for p in found), found


def test_the_examples_load_with_the_partner_definitions() -> None:
    for name in ("baseline.yaml", "with-evening-agreement.yaml"):
        scenario = load_scenario(EXAMPLES / name)
        assert {"chorley", "south-ribble", "hub"} <= scenario.tenants
