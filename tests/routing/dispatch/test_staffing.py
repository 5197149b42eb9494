"""Agents signed in, counted by partner and skill set for the routing snapshot."""

from __future__ import annotations

from routing.dispatch.router import Staffing


def test_staffing_counts_agents_with_every_skill_a_service_needs() -> None:
    staffing = Staffing.of(
        [
            ("chorley", {"waste"}),
            ("chorley", {"waste", "council-tax"}),
            ("chorley", {"waste"}),
            ("chorley", set()),
            ("south-ribble", {"waste"}),
        ]
    )
    assert staffing.with_skills("chorley", frozenset({"waste"})) == 3
    assert staffing.with_skills("chorley", frozenset({"waste", "council-tax"})) == 1
    assert staffing.with_skills("chorley", frozenset()) == 4  # a service needing no skill: everyone
    assert staffing.with_skills("preston", frozenset({"waste"})) == 0
    # Per skill, as the policy reads lenders' spare capacity.
    assert staffing.by_skill == {
        ("chorley", "waste"): 3,
        ("chorley", "council-tax"): 1,
        ("south-ribble", "waste"): 1,
    }
    # Three agents with the same skills are one group, however many there are.
    assert len(staffing.teams) == 4
