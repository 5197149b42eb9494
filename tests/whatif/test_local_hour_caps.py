"""A what-if's hourly overflow cap counts the agreement's local clock hour, as the live dispatcher does."""

from __future__ import annotations

from whatif.engine import NEVER, Contact, Engine
from whatif.scenario import parse_scenario

SCENARIO = """
name: caps
seed: 1
period: {{start: {start}, end: {end}}}
partners:
  - slug: borrower
    services: [{{code: general, skills: [general], answer_within_seconds: 20}}]
  - slug: lender
    services: [{{code: general, skills: [general], answer_within_seconds: 20}}]
handle_time: {{distribution: exponential, mean_seconds: 60}}
arrivals:
  - {{partner: borrower, service: general, per_interval: 1}}
rotas:
  - {{partner: lender, agents: 2, skills: [general]}}
agreements:
  - id: lender-helps-borrower
    lender: lender
    borrower: borrower
    timezone: {zone}
    caps: {{per_hour: 1}}
"""


def _answered(zone: str, start: str, end: str, arrivals_s: list[int]) -> list[tuple[float, float | None]]:
    """The borrower has no agents, so each caller waits for the lender's ring (open from the first second)."""
    engine = Engine(parse_scenario(SCENARIO.format(zone=zone, start=start, end=end), "caps.yaml"), seed=1)
    callers = (
        Contact(i + 1, "borrower", "general", "phone", at * 1000, 60_000, NEVER)
        for i, at in enumerate(arrivals_s)
    )
    outcome = engine.run(callers)
    assert [c.handler for c in outcome.contacts] == ["lender", "lender"]
    return [
        (c.arrival_ms / 1000, c.answered_ms / 1000 if c.answered_ms is not None else None)
        for c in outcome.contacts
    ]


def test_a_zone_half_an_hour_off_utc_caps_its_own_hour() -> None:
    # Kolkata is UTC+05:30: 00:10Z is 05:40 local and 00:40Z is 06:10 local, two local hours, so each caller
    # may be lent at once (counting the UTC hour, 00:xx both, the second waited for 01:00Z = 3600 s).
    assert _answered("Asia/Kolkata", "2026-11-16T00:00:00Z", "2026-11-16T03:00:00Z", [600, 2400]) == [
        (600.0, 600.0),
        (2400.0, 2400.0),
    ]


def test_the_hour_that_repeats_when_the_clocks_go_back_is_one_hour() -> None:
    # London, 25 October 2026: 00:30Z is 01:30 BST and 01:30Z is 01:30 GMT, the same local hour 01:00-02:00.
    # The cap of 1 is used by the first caller, so the second waits for 02:00 GMT = 02:00Z, 7200 s after the
    # start (counting the UTC hour, 01:xx was a new hour and it was lent at once, at 5400 s).
    assert _answered("Europe/London", "2026-10-25T00:00:00Z", "2026-10-25T03:00:00Z", [1800, 5400]) == [
        (1800.0, 1800.0),
        (5400.0, 7200.0),
    ]


def test_the_clocks_change_is_found_to_the_second() -> None:
    # BST ends at 01:00Z on 25 October 2026, 1 h = 3,600,000 ms after a 00:00Z start; Kolkata never changes.
    london = Engine(
        parse_scenario(
            SCENARIO.format(zone="Europe/London", start="2026-10-25T00:00:00Z", end="2026-10-26T00:00:00Z"),
            "caps.yaml",
        )
    )
    assert london._clock_changes() == [3_600_000]
    kolkata = Engine(
        parse_scenario(
            SCENARIO.format(zone="Asia/Kolkata", start="2026-10-25T00:00:00Z", end="2026-10-26T00:00:00Z"),
            "caps.yaml",
        )
    )
    assert kolkata._clock_changes() == []
