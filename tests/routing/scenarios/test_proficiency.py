"""Proficiency (issue 20, item 1): the best-skilled idle agent first, then the longest idle; on both states."""

from __future__ import annotations

from typing import Any

from routing.dispatch.skills import set_proficiency
from tests.conftest import partner_definition
from tests.routing.scenarios.conftest import World


def _best_skilled_bins() -> list[dict[str, Any]]:
    """The test partner's services, with missed-bin preferring the best-skilled agent."""
    raw_services = partner_definition("any", []).model_dump(mode="json")["services"]
    return [
        {**s, "routing": {"agent_choice": "best_skilled"}} if s["code"] == "missed-bin" else s
        for s in raw_services
    ]


async def test_a_proficient_agent_is_chosen_over_a_longer_idle_one(world: World) -> None:
    tenant, (ann, raj, lee) = await world.partner("prof", 3, services=_best_skilled_bins())
    # ann idle first (10:00:00), raj 10 s later, lee 20 s later. A supervisor rates raj 5 in waste, lee 1.
    await world.desk.set_status(ann, "available")
    world.clock.advance(10)
    await world.desk.set_status(raj, "available")
    world.clock.advance(10)
    await world.desk.set_status(lee, "available")
    changed = await set_proficiency(world.dispatcher, raj, {"waste": 5})
    assert changed.levels == {"general": None, "revenues": None, "waste": 5}
    await set_proficiency(world.dispatcher, lee, {"waste": 1})

    world.clock.advance(5)
    first, second, third = (
        (await world.arrive(tenant)) + (await world.arrive(tenant)) + (await world.arrive(tenant))
    )
    offers = await world.offers([ann, raj, lee])
    # Ranks for missed-bin (needs "waste"): raj 5, ann unrated (counted 3), lee 1: raj, then ann, then lee,
    # though ann has been idle longest and lee is idle too.
    assert offers == {raj: first, ann: second, lee: third}
    offered = next(e for e in await world.events(first) if e.event == "enquiry.offered")
    assert offered.data["agent_choice"] == "best_skilled" and offered.data["agent_level"] == 5
    assert offered.data["agent_choice_says"] == (
        "offered to the best-skilled idle agent (level 5 of 5 in waste), then the longest idle"
    )


async def test_a_service_without_the_option_still_goes_to_the_longest_idle(world: World) -> None:
    tenant, (ann, raj) = await world.partner("prof-off", 2)
    await world.desk.set_status(ann, "available")
    world.clock.advance(10)
    await world.desk.set_status(raj, "available")
    await set_proficiency(world.dispatcher, raj, {"waste": 5})
    (call,) = await world.arrive(tenant)
    assert await world.offers([ann, raj]) == {ann: call}
    offered = next(e for e in await world.events(call) if e.event == "enquiry.offered")
    assert "agent_choice" not in offered.data
