"""Arrivals replayed from the hub's own records of a past period: when each contact queued, for which partner,
service and channel, how long it was handled, and how long a caller who hung up had waited.

A caller who was answered shows only that their patience was at least their wait; they are replayed as never
hanging up, so the what-if can only understate abandonment for contacts that would now wait longer.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from figures.service import timelines
from whatif.engine import NEVER, Contact, Draw
from whatif.scenario import Scenario, real_services


async def recorded_contacts(session: AsyncSession, scenario: Scenario, draw: Draw) -> list[Contact]:
    """The recorded contacts of ``scenario.replay``'s period, in queued order, as the engine's arrivals."""
    spec = scenario.spec
    assert spec.replay is not None
    start, end = spec.replay.start, spec.replay.end
    partners = spec.replay.partners or sorted({s.tenant for s in real_services(scenario.services).values()})
    recorded = []
    for slug in partners:
        recorded += await timelines(session, tenant=slug, start=start, end=end)
    recorded.sort(key=lambda t: (t.queued_at, t.enquiry_id))
    out: list[Contact] = []
    for t in recorded:
        if f"{t.owner}/{t.service_code}" not in scenario.services:
            continue  # a service the scenario does not model (retired, or left out on purpose)
        handle = t.handle_seconds
        patience = NEVER
        if t.answered_at is None and t.abandoned_at is not None:
            patience = (t.wait_seconds or 0.0) * 1000
        out.append(
            Contact(
                len(out) + 1,
                t.owner,
                t.service_code,
                t.channel or "phone",
                int((t.queued_at - start).total_seconds() * 1000),
                max(1, int(handle * 1000)) if handle is not None else max(1, int(draw(spec.handle_time))),
                patience,
            )
        )
    return out
