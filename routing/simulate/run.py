"""One call to run a scenario (Poisson or replayed) and get the committee's figures back."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from routing.simulate.engine import Contact, Engine
from routing.simulate.replay import recorded_contacts
from routing.simulate.report import Report, build_report
from routing.simulate.scenario import Scenario

Progress = Callable[[int, int], None]  # (contacts so far, simulated ms so far)


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    arrivals: list[Contact] | None = None,
    progress: Progress | None = None,
) -> Report:
    chosen = scenario.spec.seed if seed is None else seed
    engine = Engine(scenario, seed=chosen)
    outcome = engine.run(iter(arrivals) if arrivals is not None else None, progress)
    return build_report(outcome, seed=chosen)


async def load_arrivals(
    scenario: Scenario, sessionmaker: async_sessionmaker[AsyncSession] | None, *, seed: int | None = None
) -> list[Contact] | None:
    """The recorded arrivals when the scenario replays a past period (None: it draws its own)."""
    if scenario.spec.replay is None:
        return None
    if sessionmaker is None:
        raise ValueError(f"{scenario.file}: `replay:` reads the hub's database; none is configured")
    engine = Engine(scenario, seed=scenario.spec.seed if seed is None else seed)
    async with sessionmaker() as session:
        return await recorded_contacts(session, scenario, engine.draw)
