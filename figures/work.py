"""Figures, charts and packs as work for the side loop (``Hub.side_loop``, plumbing/db/side_loop.py).

Each function returns the work to hand over, not its result: the pages and the API await it there, so the loop
that serves agents never runs it. Charts and packs are rendered in a separate process (``SideLoop.compute`` with
``figures.pack.render`` or ``charts``): CPU in a thread would still hold the process's interpreter lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from figures.definitions import Figures
from figures.pack import TREND_MONTHS, Paper, Section, fragment, gather, tiles
from figures.periods import PeriodFigures, period_figures
from figures.service import tenant_figures

Sessions = async_sessionmaker[AsyncSession]


def period_work(tenant: str, period: str) -> Callable[[Sessions], Awaitable[PeriodFigures]]:
    """A month's figures (as published, if it has been)."""

    async def work(sessionmaker: Sessions) -> PeriodFigures:
        async with sessionmaker() as session:
            return await period_figures(session, tenant=tenant, period=period)

    return work


def figures_work(tenant: str, start: datetime, end: datetime) -> Callable[[Sessions], Awaitable[Figures]]:
    """An owner's figures for contacts first queued in [start, end)."""

    async def work(sessionmaker: Sessions) -> Figures:
        async with sessionmaker() as session:
            return await tenant_figures(session, tenant=tenant, start=start, end=end)

    return work


def paper_work(
    tenants: list[str], period: str, now: datetime, *, months: int = TREND_MONTHS
) -> Callable[[Sessions], Awaitable[Paper]]:
    """The committee paper's figures for ``tenants``: their month and the ``months`` before it."""

    async def work(sessionmaker: Sessions) -> Paper:
        async with sessionmaker() as session:
            return await gather(session, tenants=tenants, period=period, now=now, months=months)

    return work


@dataclass(frozen=True)
class Dashboard:
    """The committee page's month: the paper and its parts already rendered as HTML."""

    paper: Paper
    summary: Markup
    how_to_read: Markup
    sections: list[tuple[Section, list[tuple[str, str]], Markup]]


def dashboard_work(
    tenants: list[str], period: str, now: datetime, *, months: int = TREND_MONTHS
) -> Callable[[Sessions], Awaitable[Dashboard]]:
    """The paper's figures and its HTML parts for the committee page, rendered here rather than on the agents'
    loop: the first renders compile the templates, 20-35 ms of CPU in one step that held every agent request
    arriving meanwhile (traced, docs/figures.md); in a thread the interpreter hands the loop back every 5 ms."""
    gather_paper = paper_work(tenants, period, now, months=months)

    async def work(sessionmaker: Sessions) -> Dashboard:
        paper = await gather_paper(sessionmaker)
        return Dashboard(
            paper,
            fragment("summary", paper),
            fragment("how_to_read", paper),
            [(s, tiles(s.now), fragment("partner_tables", paper, s)) for s in paper.sections],
        )

    return work
