"""What a change costs beside what it gains: overflow at the agreed unit rates, staff hours from the rotas, and a
default scenario that runs on a fresh hub."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from figures.definitions import OverflowCell
from hub.runtime import Hub
from plumbing.auth.service import Principal
from whatif.report import cost_of, staff_hours
from whatif.scenario import parse_scenario
from whatif.service import SYNTHETIC_PER_HALF_HOUR, known_services, run_inline, starting_point

WEEK = """
name: a week
timezone: Europe/London
period: {start: 2026-10-05T00:00:00Z, end: 2026-10-12T00:00:00Z}
partners:
  - {slug: borough, name: Borough Council, services: [{code: bins, skills: [waste]}]}
  - {slug: district, services: [{code: bins, skills: [waste]}]}
  - {slug: hub, name: The hub's pool}
arrivals:
  - {partner: borough, service: bins, per_interval: 1}
rotas:
  - {partner: borough, agents: 2, skills: [waste], from: "08:00", to: "18:00", days: [mon, tue, wed, thu, fri]}
  - {partner: hub, agents: 1, skills: [waste], from: "09:00", to: "13:00", days: [sat]}
agreements:
  - {id: hub-helps-borough, lender: hub, borrower: borough, channels: [phone], unit_rate: 3.10}
  - {id: hub-emails-for-borough, lender: hub, borrower: borough, channels: [email], unit_rate: 9.99}
"""


def test_staff_hours_are_the_rotas_agents_times_their_hours_in_the_period() -> None:
    # Monday 5 to Sunday 11 October (BST): 2 agents × 10 h × 5 weekdays, and 1 × 4 h on Saturday = 104 h.
    assert staff_hours(parse_scenario(WEEK)) == 104.0


def test_overflow_is_priced_at_the_agreed_unit_rate() -> None:
    scenario = parse_scenario(WEEK)
    cost = cost_of(
        scenario,
        [OverflowCell("borough", "hub", 5, 2), OverflowCell("borough", "district", 2, 1)],
    )
    # The hub's 5 at the first agreement's £3.10 = £15.50; district has no agreement with borough: £0.
    # A person reads each agreement by name (unnamed: who helps whom, by the partners' names; district has none).
    assert [(line.agreement, line.agreement_name, line.handled, line.amount) for line in cost.lines] == [
        ("hub-helps-borough", "The hub's pool helping Borough Council", 5, 15.5),
        ("", "no agreement", 2, 0.0),
    ]
    assert (cost.overflow_amount, cost.overflow_contacts, cost.staff_hours) == (15.5, 7, 104.0)


async def test_the_default_scenario_runs_on_a_hub_with_no_contacts_yet(hub: Hub, make_partner) -> None:  # type: ignore[no-untyped-def]
    partner = await make_partner(agents=2)
    catalogue = await hub.catalogue.get()
    before_anything = datetime(2020, 1, 6, 12, 0, tzinfo=UTC)  # no contact was recorded before this
    async with hub.sessionmaker() as session:
        # the joint committee (no partner of its own): it may read every partner's rotas
        start = await starting_point(session, catalogue, before_anything, Principal("committee", None))
    assert "representative synthetic day" in start.source
    a, b = yaml.safe_load(start.a), yaml.safe_load(start.b)
    mine = [x for x in a["arrivals"] if x["partner"] == partner.slug]
    assert {x["service"] for x in mine} == {"general", "missed-bin", "council-tax"}
    assert {x["per_interval"] for x in mine} == {SYNTHETIC_PER_HALF_HOUR}
    (rota,) = [r for r in a["rotas"] if r["partner"] == partner.slug]
    (more,) = [r for r in b["rotas"] if r["partner"] == partner.slug]
    assert (rota["agents"], more["agents"]) == (2, 3)
    # Blended work as the live hub runs it: the hub's three web forms or emails at once (no partner setting).
    # The hub's default limit; other partners in this database (other tests') may set their own, this one does not.
    assert a["blending"] == b["blending"] and a["blending"]["deferrable_at_once"] == 3
    assert partner.slug not in a["blending"].get("partners", {})

    # Only this partner's part, so the run stays small: 3 services × 3 per half hour × 20 half hours ≈ 180.
    a["arrivals"], a["rotas"], a["agreements"] = mine, [rota], []
    (report,) = await run_inline(
        [yaml.safe_dump(a)],
        catalogue=catalogue,
        sessionmaker=hub.sessionmaker,
        seed=1,
        who=Principal("committee", None),
    )
    assert 120 < report.partners[partner.slug].figures.offered < 240
    assert report.cost.staff_hours == 20.0  # 2 agents × 08:00–18:00
    assert known_services(catalogue)[f"{partner.slug}/missed-bin"].threshold_seconds == 20
