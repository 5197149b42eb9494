"""The engine against Erlang C (M/M/c, no abandonment), a fixed seed, and an overflow agreement's effect."""

from __future__ import annotations

import gc

import pytest

from routing.policy.erlang import ErlangC
from whatif.run import collector_paused, simulate
from whatif.scenario import parse_scenario


def mmc(calls_per_30min: float, aht: float, agents: int, days: float, threshold: int = 20) -> str:
    end_hour = int(days * 24)
    return f"""
period: {{start: 2026-11-16T00:00:00Z, end: 2026-11-16T00:00:00Z}}
partners:
  - slug: town
    services: [{{code: general, answer_within_seconds: {threshold}}}]
arrivals:
  - {{partner: town, service: general, per_interval: {calls_per_30min}}}
handle_time: {{distribution: exponential, mean_seconds: {aht}}}
rotas:
  - {{partner: town, agents: {agents}}}
""".replace("end: 2026-11-16T00:00:00Z", f"end: {_plus_hours(end_hour)}")


def _plus_hours(hours: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime(2026, 11, 16, tzinfo=UTC) + timedelta(hours=hours)).isoformat()


# (calls per 30 min, AHT s, agents, simulated days): about 20 thousand calls each, a few seconds.
CASES = [
    (100, 180, 14, 8),  # docs/design.md, "Figures": P(wait) 0.174, SL(20 s) 88.8 %, ASA 7.8 s
    (40, 180, 6, 10),
    (120, 120, 11, 4),
]


@pytest.mark.parametrize(("calls", "aht", "agents", "days"), CASES)
def test_mmc_agrees_with_erlang_c(calls: float, aht: float, agents: int, days: float) -> None:
    report = simulate(parse_scenario(mmc(calls, aht, agents, days), "mmc.yaml"))
    expected = ErlangC.of(agents=agents, arrivals_per_second=calls / 1800, aht_seconds=aht, within_seconds=20)
    figures = report.partners["town"].figures
    assert figures.abandoned == 0
    assert figures.answered > 9_000
    assert figures.service_level is not None and figures.asa_seconds is not None
    assert abs(figures.service_level - expected.service_level) <= 0.01, (figures, expected)
    assert abs(figures.asa_seconds - expected.asa_seconds) <= 0.05 * expected.asa_seconds, (figures, expected)


def test_the_design_example_matches_its_published_figures() -> None:
    expected = ErlangC.of(agents=14, arrivals_per_second=100 / 1800, aht_seconds=180, within_seconds=20)
    assert round(expected.p_wait, 3) == 0.174
    assert round(expected.service_level * 100, 1) == 88.8
    assert round(expected.asa_seconds, 1) == 7.8


def test_a_fixed_seed_gives_the_same_result_and_another_seed_does_not() -> None:
    scenario = parse_scenario(mmc(100, 180, 14, 1), "mmc.yaml")
    a, b = simulate(scenario, seed=5), simulate(scenario, seed=5)
    c = simulate(scenario, seed=6)
    assert a.as_dict()["partners"] == b.as_dict()["partners"]
    assert a.as_dict()["partners"] != c.as_dict()["partners"]


OVERFLOW = """
name: {name}
seed: 3
period: {{start: 2026-11-16T00:00:00Z, end: 2026-11-18T00:00:00Z}}
partners:
  - slug: borrower
    services: [{{code: general, skills: [general], answer_within_seconds: 20, target: 0.8}}]
  - slug: lender
    services: [{{code: general, skills: [general], answer_within_seconds: 20, target: 0.8}}]
handle_time: {{distribution: exponential, mean_seconds: 180}}
patience: {{distribution: exponential, mean_seconds: 120}}
arrivals:
  - {{partner: borrower, service: general, per_interval: 60}}
  - {{partner: lender, service: general, per_interval: 50}}
rotas:
  - {{partner: borrower, agents: 6, skills: [general]}}
  - {{partner: lender, agents: 9, skills: [general]}}
agreements: {agreements}
"""

AGREEMENT = """
  - id: lender-helps-borrower
    lender: lender
    borrower: borrower
    conditions: {waited_at_least_seconds: 10}
    lender_protection: 0.8
"""


def test_an_overflow_agreement_raises_the_borrower_without_taking_the_lender_under_target() -> None:
    without = simulate(parse_scenario(OVERFLOW.format(name="without", agreements="[]"), "a.yaml"))
    with_it = simulate(parse_scenario(OVERFLOW.format(name="with", agreements=AGREEMENT), "b.yaml"))
    before, after = without.partners["borrower"].figures, with_it.partners["borrower"].figures
    assert before.service_level is not None and after.service_level is not None
    assert after.service_level > before.service_level + 0.1, (before, after)
    assert with_it.partners["borrower"].overflow_given > 0
    assert with_it.partners["lender"].overflow_received == with_it.partners["borrower"].overflow_given
    lender = with_it.partners["lender"].figures
    assert lender.service_level is not None and lender.service_level >= 0.8, lender
    assert without.partners["borrower"].overflow_given == 0


def test_the_collector_pause_is_undone_even_when_the_run_fails() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a run that fails")
    assert gc.isenabled()
