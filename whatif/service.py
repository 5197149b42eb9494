"""What-if runs for the committee's page and API: scenarios checked against the hub's own catalogue,
small enough to run inline, past periods replayed from the hub's own records."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import structlog
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.problems import Problem
from routing.models import EnquiryEvent
from routing.states import EventName
from tenants.access import Who, may_read_agreement, readable_partners
from tenants.agreements.service import readable_agreements
from tenants.catalogue import Catalogue
from tenants.models import Agent
from whatif.engine import Contact
from whatif.report import Report
from whatif.run import load_arrivals, simulate
from whatif.scenario import Scenario, ScenarioInvalid, Service, parse_scenario, real_services
from whatif.workers import Ran, Running, SimulationPool, as_plain

log = structlog.get_logger(__name__)

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
                info.routing.agent_choice,
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


def prepare(texts: list[str], *, catalogue: Catalogue, who: Who) -> list[Scenario]:
    """Every scenario parsed and checked first (so a bad second one runs nothing), replays narrowed to ``who``."""
    names = ["scenario A", "scenario B"]
    known = known_services(catalogue)
    partner_names = {slug: t.name for slug, t in catalogue.tenants.items()}
    scenarios = [
        replay_only_readable(parse_scenario(t, names[i], known=known, known_names=partner_names), who)
        for i, t in enumerate(texts)
    ]
    for s in scenarios:
        check_inline(s)
    return scenarios


async def run_prepared(
    scenarios: list[Scenario],
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    seed: int | None,
    progress: Callable[[int, int, int], None] | None = None,
    progress_every: int = 1 << 14,
    pool: SimulationPool | None = None,
) -> list[Report]:
    """Run each scenario off the event loop: all at once in ``pool``'s worker processes when given (the server),
    else one after the other in a thread, ``progress(scenario index, contacts, simulated ms)`` from it."""
    if pool is not None:
        running = await start_in_pool(
            pool, scenarios, sessionmaker=sessionmaker, seed=seed, progress_every=progress_every
        )
        try:
            return reports_of(await asyncio.gather(*(r.outcome() for r in running)))
        finally:
            for r in running:
                r.stop()  # one failed: the others' answers are not wanted (a no-op for those done)
    reports = []
    for i, s in enumerate(scenarios):
        arrivals = await load_arrivals_checked(s, sessionmaker, seed=seed)
        step = None if progress is None else partial(progress, i)
        # CPU-bound for seconds: off the event loop so the hub keeps serving meanwhile.
        reports.append(
            await asyncio.to_thread(
                simulate, s, seed=seed, arrivals=arrivals, progress=step, progress_every=progress_every
            )
        )
    return reports


async def load_arrivals_checked(
    scenario: Scenario, sessionmaker: async_sessionmaker[AsyncSession], *, seed: int | None
) -> list[Contact] | None:
    """The recorded arrivals a replay reads (here, in the server: the database is its), refused past
    ``MAX_INLINE_CONTACTS``."""
    arrivals = await load_arrivals(scenario, sessionmaker, seed=seed)
    if arrivals is not None and len(arrivals) > MAX_INLINE_CONTACTS:
        raise ScenarioInvalid([f"{scenario.file}: {len(arrivals):,} recorded contacts; use `hub simulate`"])
    return arrivals


async def start_in_pool(
    pool: SimulationPool,
    scenarios: list[Scenario],
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    seed: int | None,
    progress_every: int,
) -> list[Running]:
    """Every scenario handed to a worker as soon as its arrivals are read (A runs while B's are read).

    A failure before all have started (B's replay too large) stops those already started, then raises.
    """
    running: list[Running] = []
    try:
        for s in scenarios:
            arrivals = await load_arrivals_checked(s, sessionmaker, seed=seed)
            running.append(
                pool.start(s, seed=seed, arrivals=as_plain(arrivals), progress_every=progress_every)
            )
    except BaseException:
        for r in running:
            r.stop()
        raise
    return running


def reports_of(outcomes: list[Ran]) -> list[Report]:
    """The workers' reports; the first that failed raises its problem again, as the run in a thread raised it."""
    for ran in outcomes:
        if ran.problem is not None:
            if ran.trace is not None:
                log.error("whatif.worker_failed", pid=ran.pid, trace=ran.trace)
            raise problem_raised(ran.problem)
        assert ran.report is not None
    return [ran.report for ran in outcomes if ran.report is not None]


def problem_raised(problem: dict[str, Any]) -> Exception:
    """The exception that gives ``problem`` back: a refused scenario as ``ScenarioInvalid`` (the page lists its
    problems), anything else as the ``Problem`` with the same members."""
    if problem.get("code") == "scenario_invalid":
        return ScenarioInvalid(list(problem.get("problems") or [problem.get("detail", "")]))
    extensions = {k: v for k, v in problem.items() if k not in ("type", "title", "status", "detail", "code")}
    return Problem(int(problem["status"]), str(problem["code"]), str(problem["detail"]), **extensions)


async def run_inline(
    texts: list[str],
    *,
    catalogue: Catalogue,
    sessionmaker: async_sessionmaker[AsyncSession],
    seed: int | None,
    who: Who,
    pool: SimulationPool | None = None,
) -> list[Report]:
    """Parse every scenario first (so a bad second one runs nothing), then run them off the event loop (in
    ``pool``'s worker processes when given)."""
    scenarios = prepare(texts, catalogue=catalogue, who=who)
    return await run_prepared(scenarios, sessionmaker=sessionmaker, seed=seed, pool=pool)


SYNTHETIC_PER_HALF_HOUR = 3.0  # contacts per service per half hour on the synthetic day, 08:00–18:00


@dataclass(frozen=True)
class StartingPoint:
    """Two scenarios to edit (as they are, and one more agent on each rota) and what A is, in words."""

    a: str
    b: str
    source: str


async def starting_point(
    session: AsyncSession, catalogue: Catalogue, now: datetime, who: Who
) -> StartingPoint:
    """The last day with recorded contacts replayed (today so far, if that is the only one); with none yet (a
    fresh hub), a representative synthetic day from the catalogue. The agents of each partner ``who`` may read on
    a day rota, and the agreements in force that it is party to (tenants.access: another partner's rotas and
    terms stay its own)."""
    readable = readable_partners(who, catalogue.tenants)
    shift = ("08:00", "18:00")
    agreements = [
        a.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        for a in (await readable_agreements(session))[0]  # one bad stored row is skipped, as the router does
        if may_read_agreement(who, a)
    ]
    last = await session.scalar(
        select(func.max(EnquiryEvent.at)).where(
            EnquiryEvent.event == EventName.QUEUED, EnquiryEvent.at <= now
        )
    )
    document: dict[str, object]
    if last is not None:
        start = last.replace(hour=0, minute=0, second=0, microsecond=0)
        end = min(start + timedelta(days=1), now.replace(microsecond=0) + timedelta(seconds=1))
        contacts = await session.scalar(
            select(func.count()).where(
                EnquiryEvent.event == EventName.QUEUED, EnquiryEvent.at >= start, EnquiryEvent.at < end
            )
        )
        today = start.date() == now.date()
        # The rotas cover the hours the day's contacts came in (a demo's traffic runs round the clock).
        first, latest = (
            await session.execute(
                select(func.min(EnquiryEvent.at), func.max(EnquiryEvent.at)).where(
                    EnquiryEvent.event == EventName.QUEUED, EnquiryEvent.at >= start, EnquiryEvent.at < end
                )
            )
        ).one()
        zone = ZoneInfo("Europe/London")  # the scenario's default clock
        until = latest.astimezone(zone).hour + 2
        shift = (f"{first.astimezone(zone).hour:02d}:00", "24:00" if until >= 24 else f"{until:02d}:00")
        source = (
            f"Scenario A replays {start:%A %d %B %Y} (UTC), the last day with recorded contacts"
            f"{' (today so far)' if today else ''}: {contacts:,} contacts as they arrived."
        )
        document = {
            "name": f"{start:%d %b} as it was",
            "seed": 1,
            "replay": {"start": start.isoformat(), "end": end.isoformat()},
            "patience": {"distribution": "exponential", "mean_seconds": 120},
        }
    else:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        arrivals = [
            {
                "partner": slug,
                "service": info.code,
                "per_interval": SYNTHETIC_PER_HALF_HOUR,
                "from": "08:00",
                "to": "18:00",
                "handle_time": {"mean_seconds": float(info.routing.expected_handle_seconds)},
            }
            for slug in readable
            for info in sorted(catalogue.tenants[slug].services.values(), key=lambda i: i.code)
        ]
        source = (
            "No contacts are recorded yet, so scenario A is a representative synthetic day: "
            f"{SYNTHETIC_PER_HALF_HOUR:g} contacts per half hour for each service in the catalogue, "
            "08:00–18:00, each handled in its service's expected time."
        )
        document = {
            "name": "a synthetic day",
            "seed": 1,
            "period": {"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()},
            "interval_minutes": 30,
            "arrivals": arrivals or [{"partner": "edit-me", "service": "edit-me", "per_interval": 1}],
            "patience": {"distribution": "exponential", "mean_seconds": 120},
        }
    agents = (await session.scalars(select(Agent))).all()
    rotas: list[dict[str, object]] = []
    for slug in readable:
        mine = [frozenset(a.skills) for a in agents if a.tenant_slug == slug]
        if mine:
            skills = sorted(frozenset().union(*mine))
            rotas.append(
                {"partner": slug, "agents": len(mine), "skills": skills, "from": shift[0], "to": shift[1]}
            )
    document |= {
        "rotas": rotas or [{"partner": "edit-me", "agents": 1}],
        "agreements": agreements,
        "blending": _blending(catalogue, readable),
    }
    more = {**document, "name": "one more agent on each rota"}
    more["rotas"] = [{**r, "agents": int(str(r["agents"])) + 1} for r in rotas] or document["rotas"]
    return StartingPoint(
        a=yaml.safe_dump(document, sort_keys=False, width=110),
        b=yaml.safe_dump(more, sort_keys=False, width=110),
        source=source,
    )


# Web forms and emails an agent holds at once unless its partner sets its own (``Dispatcher.text_capacity``).
HUB_DEFERRABLE_AT_ONCE = 3


def _blending(catalogue: Catalogue, partners: Iterable[str]) -> dict[str, object]:
    """Blended work as the live hub runs it: the hub's limit, and each partner's own (its ``blending`` setting)."""
    own: dict[str, int] = {}
    for slug in partners:
        info = catalogue.tenants.get(slug)
        setting = info.settings.get("blending") if info is not None else None
        if isinstance(setting, dict) and isinstance(setting.get("deferrable_at_once"), int):
            own[slug] = int(setting["deferrable_at_once"])
    return {"deferrable_at_once": HUB_DEFERRABLE_AT_ONCE, **({"partners": own} if own else {})}
