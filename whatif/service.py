"""What-if runs for the committee's page and API: scenarios checked against the hub's own catalogue,
small enough to run inline, past periods replayed from the hub's own records."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.problems import Problem
from tenants.access import Who, may_read_agreement, readable_partners
from tenants.agreements.service import list_agreements
from tenants.catalogue import Catalogue
from tenants.models import Agent
from whatif.report import Report
from whatif.run import load_arrivals, simulate
from whatif.scenario import Scenario, ScenarioInvalid, Service, parse_scenario, real_services

MAX_INLINE_DAYS = (
    31  # a month of one partnership's contacts simulates in seconds; more belongs to `hub simulate`
)
MAX_INLINE_CONTACTS = 300_000


def known_services(catalogue: Catalogue) -> dict[str, Service]:
    out: dict[str, Service] = {}
    for tenant in catalogue.tenants.values():
        out[f"{tenant.slug}/"] = Service(tenant.slug, "", frozenset(), 5, 20, 0.8, False, None, 240.0)
        for info in tenant.services.values():
            out[f"{tenant.slug}/{info.code}"] = Service(
                tenant.slug,
                info.code,
                info.skills,
                info.priority,
                info.sl_threshold_seconds,
                info.sl_target,
                info.routing.callbacks,
                info.routing.callback_after_seconds,
                float(info.routing.expected_handle_seconds),
            )
    return out


def check_inline(scenario: Scenario) -> None:
    if scenario.end - scenario.start > timedelta(days=MAX_INLINE_DAYS):
        raise ScenarioInvalid(
            [
                f"{scenario.file}: at most {MAX_INLINE_DAYS} days run here; use `hub simulate` for longer periods"
            ]
        )


def replay_only_readable(scenario: Scenario, who: Who) -> Scenario:
    """The scenario with its replay narrowed to the partners ``who`` may read as a whole (tenants.access).

    Naming a partner it may not read is refused (403); left out, the replay reads only the readable ones. An
    agreement never lets a partner replay another's recorded contacts: those are partner-wide figures.
    """
    replay = scenario.spec.replay
    if replay is None:
        return scenario
    wanted = replay.partners or sorted({s.tenant for s in real_services(scenario.services).values()})
    allowed = readable_partners(who, wanted)
    if replay.partners is not None:
        refused = sorted(set(replay.partners) - set(allowed))
        if refused:
            raise Problem(
                403,
                "forbidden",
                f"{scenario.file}: `replay.partners` names {', '.join(refused)}, whose records your access does "
                "not cover",
                partners=refused,
            )
    if allowed == wanted:
        return scenario
    narrowed = replay.model_copy(update={"partners": allowed})
    return replace(scenario, spec=scenario.spec.model_copy(update={"replay": narrowed}))


async def run_inline(
    texts: list[str],
    *,
    catalogue: Catalogue,
    sessionmaker: async_sessionmaker[AsyncSession],
    seed: int | None,
    who: Who,
) -> list[Report]:
    """Parse every scenario first (so a bad second one runs nothing), then run each off the event loop."""
    names = ["scenario A", "scenario B"]
    known = known_services(catalogue)
    scenarios = [
        replay_only_readable(parse_scenario(t, names[i], known=known), who) for i, t in enumerate(texts)
    ]
    for s in scenarios:
        check_inline(s)
    reports = []
    for s in scenarios:
        arrivals = await load_arrivals(s, sessionmaker, seed=seed)
        if arrivals is not None and len(arrivals) > MAX_INLINE_CONTACTS:
            raise ScenarioInvalid([f"{s.file}: {len(arrivals):,} recorded contacts; use `hub simulate`"])
        # CPU-bound for a second or two: off the event loop so the hub keeps serving meanwhile.
        reports.append(await asyncio.to_thread(simulate, s, seed=seed, arrivals=arrivals))
    return reports


async def starting_point(session: AsyncSession, catalogue: Catalogue, now: datetime, who: Who) -> str:
    """A scenario to edit: yesterday replayed, the agents of each partner ``who`` may read on a day rota, and the
    agreements in force that it is party to (tenants.access: another partner's rotas and terms stay its own)."""
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)
    agents = (await session.scalars(select(Agent))).all()
    rotas: list[dict[str, object]] = []
    for slug in readable_partners(who, catalogue.tenants):
        mine = [frozenset(a.skills) for a in agents if a.tenant_slug == slug]
        if mine:
            skills = sorted(frozenset().union(*mine))
            rotas.append(
                {"partner": slug, "agents": len(mine), "skills": skills, "from": "08:00", "to": "18:00"}
            )
    agreements = [
        a.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        for a in await list_agreements(session)
        if may_read_agreement(who, a)
    ]
    document = {
        "name": "yesterday as it was",
        "seed": 1,
        "replay": {"start": start.isoformat(), "end": end.isoformat()},
        "patience": {"distribution": "exponential", "mean_seconds": 120},
        "rotas": rotas or [{"partner": "edit-me", "agents": 1}],
        "agreements": agreements,
    }
    return yaml.safe_dump(document, sort_keys=False, width=110)
