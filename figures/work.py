"""Figures, charts and packs as work for the side loop (``Hub.side_loop``, plumbing/db/side_loop.py).

Each function returns the work to hand over, not its result: the pages and the API await it there, so the loop
that serves agents never runs it (docs/figures.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from figures.definitions import Figures
from figures.pack import charts, render
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


def render_work(periods: Sequence[PeriodFigures], fmt: str) -> Callable[[Any], Awaitable[bytes]]:
    """A pack rendered (charts, PDF): CPU only, no database."""

    async def work(_sessionmaker: Any) -> bytes:
        return render(periods, fmt)

    return work


def charts_work(figures: PeriodFigures) -> Callable[[Any], Awaitable[dict[str, bytes]]]:
    """A month's charts as PNG images."""

    async def work(_sessionmaker: Any) -> dict[str, bytes]:
        return charts(figures)

    return work
