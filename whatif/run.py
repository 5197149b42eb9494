"""One call to run a scenario (Poisson or replayed) and get the committee's figures back."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from whatif.engine import Contact, Engine
from whatif.replay import recorded_contacts
from whatif.report import Report, build_report
from whatif.scenario import Scenario

Progress = Callable[[int, int], None]  # (contacts so far, simulated ms so far)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector for a run in a process of its own (``hub simulate``, the benchmark).

    A run makes millions of small objects, none of them in a cycle, so reference counting frees every one; the
    collector would only walk the growing lists of contacts and timelines again and again (about a sixth of the
    time spent on the figures). Not for a run in a thread of the web process: the pause is process-wide.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    arrivals: list[Contact] | None = None,
    progress: Progress | None = None,
    progress_every: int = 1 << 14,
) -> Report:
    chosen = scenario.spec.seed if seed is None else seed
    engine = Engine(scenario, seed=chosen)
    outcome = engine.run(iter(arrivals) if arrivals is not None else None, progress, progress_every)
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
