"""The simulator models blended work and proficiency as the live routing does (issue 20), with figures by hand."""

from __future__ import annotations

from pathlib import Path

from whatif.engine import NEVER, Contact, Engine
from whatif.report import build_report
from whatif.run import simulate
from whatif.scenario import load_scenario, parse_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "scenarios"


def _scenario(extra: str = "", *, choice: str = "longest_idle", rotas: str = "") -> str:
    return f"""
period: {{start: 2026-11-16T08:00:00Z, end: 2026-11-16T12:00:00Z}}
partners:
  - slug: town
    services: [{{code: general, skills: [general], answer_within_seconds: 20, agent_choice: {choice}}}]
arrivals:
  - {{partner: town, service: general, per_interval: 0}}   # the tests feed their own contacts
rotas:
{rotas or "  - {partner: town, agents: 1, skills: [general]}"}
{extra}
"""


def _run(text: str, contacts: list[Contact]) -> list[Contact]:
    outcome = Engine(parse_scenario(text, "test.yaml")).run(iter(contacts))
    return outcome.contacts


def _contact(i: int, channel: str, at_s: int, handle_s: int) -> Contact:
    return Contact(i, "town", "general", channel, at_s * 1000, handle_s * 1000, NEVER)


def test_with_blending_a_caller_is_answered_at_once_by_an_agent_busy_on_a_web_form() -> None:
    # One agent. A web form at 0 s (10 min of work), a caller at 60 s (2 min on the phone).
    contacts = lambda: [_contact(1, "web", 0, 600), _contact(2, "phone", 60, 120)]  # noqa: E731
    one_at_a_time = _run(_scenario(), contacts())
    # Without blending the caller waits for the form: answered at 600 s, a wait of 600 − 60 = 540 s.
    form, call = one_at_a_time
    assert (call.answered_ms, call.completed_ms) == (600_000, 720_000)
    assert (form.answered_ms, form.completed_ms) == (0, 600_000)

    blended = _run(_scenario("blending: {deferrable_at_once: 3}"), contacts())
    form, call = blended
    # With blending the caller is answered at once (0 s waited) and talks 60 → 180 s; the form is parked for
    # those 120 s, so its 600 s of work end at 600 + 120 = 720 s.
    assert (call.answered_ms, call.completed_ms) == (60_000, 180_000)
    assert (form.answered_ms, form.completed_ms) == (0, 720_000)


def test_blending_holds_several_forms_up_to_the_limit_and_a_call_parks_them_all() -> None:
    # Limit 2: forms at 0 and 10 s are taken at once, the third (20 s) waits for room; a call at 30 s is taken
    # at once and parks both forms for its 100 s.
    contacts = [
        _contact(1, "web", 0, 300),
        _contact(2, "email", 10, 300),
        _contact(3, "web", 20, 50),
        _contact(4, "phone", 30, 100),
    ]
    a, b, c, call = _run(_scenario("blending: {deferrable_at_once: 2}"), contacts)
    assert (call.answered_ms, call.completed_ms) == (30_000, 130_000)
    assert (a.answered_ms, a.completed_ms) == (0, 400_000)  # 300 s of work + 100 s parked
    assert (b.answered_ms, b.completed_ms) == (10_000, 410_000)  # 10 + 300 + 100
    # Room again when the first form is done, at 400 s: the third form then takes 400 → 450 s.
    assert (c.answered_ms, c.completed_ms) == (400_000, 450_000)


def test_the_best_skilled_agent_is_preferred_and_its_quicker_handling_shows_in_the_aht() -> None:
    # An expert (waste level 5, handling in half the drawn time) and a learner (level 1), both idle from 08:00.
    # Calls every 300 s of 100 s each: never two at once, so each finds both agents idle.
    rotas = (
        "  - {partner: town, agents: 1, skills: [general], proficiency: {general: 5}, handle_factor: 0.5}\n"
        "  - {partner: town, agents: 1, skills: [general], proficiency: {general: 1}}"
    )
    contacts = lambda: [_contact(i + 1, "phone", 300 * i, 100) for i in range(10)]  # noqa: E731

    longest = Engine(parse_scenario(_scenario(rotas=rotas), "t.yaml")).run(iter(contacts()))
    # Longest idle: the two alternate (the expert, first by id at a tie, takes calls 1, 3, 5, 7, 9 in 50 s;
    # the learner 2, 4, 6, 8, 10 in 100 s): AHT (5 × 50 + 5 × 100) / 10 = 75 s.
    assert [c.handle_ms for c in longest.contacts] == [50_000, 100_000] * 5
    assert build_report(longest, seed=1).partners["town"].figures.aht_seconds == 75.0

    best = Engine(parse_scenario(_scenario(choice="best_skilled", rotas=rotas), "t.yaml")).run(
        iter(contacts())
    )
    # Best-skilled: the expert (rank 5 against 1) takes every call it is idle for, which is all ten: AHT 50 s.
    assert [c.handle_ms for c in best.contacts] == [50_000] * 10
    assert build_report(best, seed=1).partners["town"].figures.aht_seconds == 50.0


def test_an_unrated_skill_counts_as_three_as_live() -> None:
    # Unrated (3) against level 2: the unrated agent is preferred though the other is listed first.
    rotas = (
        "  - {partner: town, agents: 1, skills: [general], proficiency: {general: 2}, handle_factor: 2}\n"
        "  - {partner: town, agents: 1, skills: [general]}"
    )
    (only,) = (
        Engine(parse_scenario(_scenario(choice="best_skilled", rotas=rotas), "t.yaml"))
        .run(iter([_contact(1, "phone", 0, 100)]))
        .contacts
    )
    assert only.handle_ms == 100_000  # the unrated agent's (factor 1), not the level-2 agent's 200 s


def test_a_proficiency_level_outside_one_to_five_is_refused_with_its_line() -> None:
    rotas = "  - {partner: town, agents: 1, skills: [general], proficiency: {general: 7}}"
    try:
        parse_scenario(_scenario(rotas=rotas), "t.yaml")
    except Exception as exc:  # ScenarioInvalid
        assert "line 9" in str(exc) and "1 (learning) to 5 (expert)" in str(exc)
    else:
        raise AssertionError("a level of 7 was accepted")


def test_the_example_scenarios_show_blending_answers_callers_sooner_and_preferred_experts_handle_more() -> (
    None
):
    # deploy/examples/scenarios: the same week of Chorley's calls and web forms, with and without blending.
    without = simulate(load_scenario(EXAMPLES / "with-web-forms.yaml"))
    blended = simulate(load_scenario(EXAMPLES / "with-blending.yaml"))
    a, b = without.partners["chorley"], blended.partners["chorley"]
    assert a.figures.offered == b.figures.offered  # the same seed draws the same contacts
    assert a.live is not None and b.live is not None
    # Blending never makes a live caller wait for an agent busy only on forms: live callers are answered sooner.
    assert b.live.asa_seconds is not None and a.live.asa_seconds is not None
    assert b.live.asa_seconds < a.live.asa_seconds
    assert (b.live.service_level or 0) > (a.live.service_level or 0)

    # Proficiency: two of Chorley's four day agents are experts handling in 0.75 of the time. Live calls
    # (drawn mean 240 s) then take 240 × (1 − 0.25 x) on average, x the experts' share. Idle longest, the
    # experts take about their half of the day's calls (x ≈ 0.5: about 210 s); preferred whenever idle, more.
    text = (EXAMPLES / "with-proficiency.yaml").read_text()
    skilled = simulate(load_scenario(EXAMPLES / "with-proficiency.yaml")).partners["chorley"].live
    unpreferred = "\n".join(line for line in text.splitlines() if not line.startswith("agent_choice:"))
    longest = simulate(parse_scenario(unpreferred, "t.yaml", base=EXAMPLES)).partners["chorley"].live
    assert skilled is not None and longest is not None
    assert skilled.offered == longest.offered == b.live.offered
    assert skilled.aht_seconds is not None and longest.aht_seconds is not None
    assert 180 < skilled.aht_seconds < longest.aht_seconds < 240  # all experts: 180 s; none: 240 s
    assert skilled.aht_seconds < 240 * (1 - 0.25 * 0.5)  # the experts take more than half: under 210 s


def test_unknown_names_in_blending_and_agent_choice_are_refused_with_their_lines() -> None:
    extra = (
        "blending: {deferrable_at_once: 2, partners: {nowhere: 1}}\nagent_choice: {town/bins: best_skilled}"
    )
    try:
        parse_scenario(_scenario(extra), "t.yaml")
    except Exception as exc:  # ScenarioInvalid
        said = str(exc)
        # _scenario's text: a blank first line, eight lines of period to rota, then the two extra lines
        assert "line 10 (blending.partners.nowhere): unknown partner 'nowhere'" in said, said
        assert "line 11 (agent_choice.town/bins): no service 'town/bins'" in said, said
    else:
        raise AssertionError("unknown names were accepted")
