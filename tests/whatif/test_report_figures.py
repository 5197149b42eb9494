"""The run's figures kept in one pass equal the committee pack's ``compute`` and ``overflow_matrix`` over the
same contacts as Timelines, to the last bit (whatif/report.py, ``figures_of``)."""

from __future__ import annotations

from collections import defaultdict

from bench.simulate import scenario_for
from figures.definitions import Timeline, compute, overflow_matrix
from whatif.engine import Engine
from whatif.report import build_report, figures_of, timelines


def test_one_pass_figures_equal_compute_over_timelines() -> None:
    scenario = scenario_for(20_000)
    outcome = Engine(scenario).run()
    lines = timelines(outcome)
    by_owner: dict[str, list[Timeline]] = defaultdict(list)
    for t in lines:
        by_owner[t.owner].append(t)

    owners, total, cells = figures_of(outcome)

    assert total == compute(lines)
    assert owners == {owner: compute(group) for owner, group in by_owner.items()}
    assert cells == overflow_matrix(lines)
    # The run exercises every branch: long and short abandons, overflow both ways, handled contacts.
    assert total.abandoned > total.short_abandoned > 0
    assert total.handled > 0
    assert {(c.owner, c.handler) for c in cells} >= {("chorley", "south-ribble"), ("lancashire", "hub")}
    report = build_report(outcome, seed=scenario.spec.seed)
    assert report.total == total and report.overflow == cells
