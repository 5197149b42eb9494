"""Erlang C against the figures in docs/design.md, "Figures"."""

from __future__ import annotations

import math

from routing.policy.erlang import ErlangC, agents_for, asa, p_wait, service_level


def test_the_design_example() -> None:
    figures = ErlangC.of(agents=14, arrivals_per_second=100 / 1800, aht_seconds=180, within_seconds=20)
    assert round(figures.load, 3) == 10.0
    assert round(figures.p_wait, 3) == 0.174
    assert round(figures.service_level * 100, 1) == 88.8
    assert round(figures.asa_seconds, 1) == 7.8


def test_edges_and_staffing() -> None:
    assert p_wait(3, 3.0) == 1.0 and service_level(3, 3.5, 180, 20) == 0.0 and math.isinf(asa(2, 2.0, 180))
    assert p_wait(5, 0.0) == 0.0
    assert 0 < p_wait(500, 450.0) < 1  # large teams stay numerically stable
    assert (
        agents_for(arrivals_per_second=100 / 1800, aht_seconds=180, within_seconds=20, target=0.8) == 14
    )  # 13 reach 79.6 %


def test_p_wait_for_a_large_team_is_the_full_recurrence_stopped_early() -> None:
    def full_recurrence(agents: int, load: float) -> float:
        b = 1.0
        for k in range(1, agents + 1):
            b = load * b / (k + load * b)
        return agents * b / (agents - load * (1 - b))

    for agents, load in [(11_100, 50.0), (11_100, 10_900.0), (2_000, 1_500.0), (40, 39.5), (300, 12.25)]:
        assert p_wait(agents, load) == full_recurrence(agents, load)


def test_p_wait_kept_answers_are_the_formula_s_even_after_the_store_is_emptied() -> None:
    """The design example (P(wait) 0.174) asked again, and again after 9,000 other questions emptied the store."""
    first = p_wait(14, 10.0)
    assert round(first, 3) == 0.174 and p_wait(14, 10.0) == first
    for n in range(9_000):
        p_wait(20, n / 1_000)
    assert p_wait(14, 10.0) == first and p_wait(0, 1.0) == 1.0 and p_wait(5, 0.0) == 0.0
