"""Reporting periods: a partner's local month, and publishing one so that it is never rewritten."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.metrics.definitions import CURRENT_VERSION, Figures, compute, definitions, occupancy, overflow_matrix
from hub.metrics.models import PublishedPeriod
from hub.metrics.satisfaction import satisfaction_figures
from hub.metrics.service import agent_spans, group_figures, tenant_zone, timelines

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    pass


def month_bounds(period: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a local calendar month ``YYYY-MM``."""
    match = PERIOD.match(period)
    if not match:
        raise PeriodError(f"period must look like 2026-10, not {period!r}")
    year, month = int(match[1]), int(match[2])
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class PeriodFigures:
    """Everything the pack shows for one partner and one period, as plain data."""

    tenant: str
    period: str
    definitions_version: str
    published_at: str | None
    totals: dict[str, Any]
    by_service: list[dict[str, Any]]
    by_channel: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    overflow: list[dict[str, Any]]
    occupancy: float | None
    satisfaction: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _figures(f: Figures) -> dict[str, Any]:
    return asdict(f)


async def compute_period(
    session: AsyncSession, *, tenant: str, period: str, version: str | None = None
) -> PeriodFigures:
    zone = await tenant_zone(session, tenant)
    start, end = month_bounds(period, zone)
    version = version or CURRENT_VERSION
    definitions(version)  # unknown versions fail here, before any work
    contacts = await timelines(session, tenant=tenant, start=start, end=end)
    rows_service = group_figures(
        contacts, interval="month", zone=zone, by_service=True, by_channel=False, version=version
    )
    rows_channel = group_figures(
        contacts, interval="month", zone=zone, by_service=False, by_channel=True, version=version
    )
    rows_daily = group_figures(
        contacts, interval="day", zone=zone, by_service=False, by_channel=False, version=version
    )
    channel_daily = group_figures(
        contacts, interval="day", zone=zone, by_service=False, by_channel=True, version=version
    )
    mix: dict[str, dict[str, int]] = {}
    for row in channel_daily:
        mix.setdefault(row.interval_start.date().isoformat(), {})[row.channel or ""] = row.figures.offered
    satisfaction = await satisfaction_figures(session, tenant=tenant, start=start, end=end)
    return PeriodFigures(
        tenant=tenant,
        period=period,
        definitions_version=version,
        published_at=None,
        totals=_figures(compute(contacts, version)),
        by_service=[{"service_code": r.service_code, **_figures(r.figures)} for r in rows_service],
        by_channel=[{"channel": r.channel, **_figures(r.figures)} for r in rows_channel],
        daily=[
            {
                "date": r.interval_start.date().isoformat(),
                "channels": mix.get(r.interval_start.date().isoformat(), {}),
                **_figures(r.figures),
            }
            for r in rows_daily
        ],
        overflow=[asdict(c) for c in overflow_matrix(contacts)],
        occupancy=occupancy(await agent_spans(session, tenant=tenant, start=start, end=end)),
        satisfaction={**asdict(satisfaction), "net_score": satisfaction.net_score},
    )


async def period_figures(session: AsyncSession, *, tenant: str, period: str) -> PeriodFigures:
    """A published period exactly as published; otherwise computed now with the current definitions."""
    published = await session.scalar(
        select(PublishedPeriod).where(PublishedPeriod.tenant_slug == tenant, PublishedPeriod.period == period)
    )
    if published is not None:
        return PeriodFigures(**{**published.figures, "published_at": published.published_at.isoformat()})
    return await compute_period(session, tenant=tenant, period=period)


async def publish_period(session: AsyncSession, *, tenant: str, period: str, now: datetime) -> PeriodFigures:
    """Freeze a period's figures with the definitions in force; publishing twice is refused."""
    existing = await session.scalar(
        select(PublishedPeriod).where(PublishedPeriod.tenant_slug == tenant, PublishedPeriod.period == period)
    )
    if existing is not None:
        raise PeriodError(
            f"{period} is already published for {tenant} (definitions {existing.definitions_version})"
        )
    _start, end = month_bounds(period, await tenant_zone(session, tenant))
    if end > now:
        raise PeriodError(f"{period} has not ended yet; publish it once it is over")
    figures = await compute_period(session, tenant=tenant, period=period)
    session.add(
        PublishedPeriod(
            tenant_slug=tenant,
            period=period,
            definitions_version=figures.definitions_version,
            published_at=now,
            figures=figures.to_json(),
        )
    )
    await session.flush()
    return PeriodFigures(**{**figures.to_json(), "published_at": now.isoformat()})
