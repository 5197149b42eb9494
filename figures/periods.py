"""Reporting periods: a partner's local month, and publishing one so that it is never rewritten."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import distinct, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from figures.definitions import (
    AgreementTerms,
    Figures,
    LedgerLine,
    OverflowCell,
    Timeline,
    compute,
    definitions,
    ledger,
    occupancy,
    overflow_matrix,
    version_for,
)
from figures.models import PublishedPeriod
from figures.satisfaction import satisfaction_figures
from figures.service import agent_spans, group_figures, tenant_zone, timelines
from routing.models import EnquiryEvent
from tenants.agreements.models import AgreementRow
from tenants.models import Service

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
    by_department: list[dict[str, Any]] = field(default_factory=list)  # the catalogue's service groups
    ledger: list[dict[str, Any]] = field(default_factory=list)  # lines where this partner lends or borrows
    recharge: dict[str, float] = field(default_factory=dict)  # owes (as borrower), owed (as lender), net
    # Others' contacts this partner's (or the pool's) agents answered: owner, handler, handled, within target.
    overflow_received: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _figures(f: Figures) -> dict[str, Any]:
    return asdict(f)


async def compute_period(
    session: AsyncSession, *, tenant: str, period: str, version: str | None = None
) -> PeriodFigures:
    zone = await tenant_zone(session, tenant)
    start, end = month_bounds(period, zone)
    version = version or version_for(period)  # a month keeps the definitions in force for it
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
    lines = await ledger_lines(session, tenant=tenant, own=contacts, start=start, end=end)
    groups = await service_groups(session, tenant=tenant)
    departments: dict[str, list[Timeline]] = {}
    for contact in contacts:
        departments.setdefault(groups.get(contact.service_code) or "Other", []).append(contact)
    owes = round(sum(line.amount for line in lines if line.borrower == tenant), 2)
    owed = round(sum(line.amount for line in lines if line.lender == tenant), 2)
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
        by_department=[
            {"department": name, **_figures(compute(items, version))}
            for name, items in sorted(departments.items())
        ],
        ledger=[asdict(line) for line in lines],
        recharge={"owes": owes, "owed": owed, "net": round(owed - owes, 2)},
        overflow_received=[
            asdict(c) for c in await overflow_received(session, tenant=tenant, start=start, end=end)
        ],
    )


async def overflow_received(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime
) -> list[OverflowCell]:
    """Contacts of other owners, first queued in [start, end), that this tenant's agents answered."""
    owners = (
        await session.scalars(
            select(distinct(EnquiryEvent.tenant_slug)).where(
                EnquiryEvent.handler_slug == tenant,
                EnquiryEvent.tenant_slug != tenant,
                EnquiryEvent.event == "enquiry.answered",
                EnquiryEvent.at >= start,
                EnquiryEvent.at < end + timedelta(days=1),  # queued in the month, perhaps answered just after
            )
        )
    ).all()
    cells: list[OverflowCell] = []
    for owner in sorted(owners):
        theirs = await timelines(session, tenant=owner, start=start, end=end)
        cells += [c for c in overflow_matrix(theirs) if c.handler == tenant]
    return cells


async def service_groups(session: AsyncSession, *, tenant: str) -> dict[str, str]:
    """Service code to its catalogue group (the council department the committee reads by)."""
    rows = (
        await session.execute(select(Service.code, Service.definition).where(Service.tenant_slug == tenant))
    ).all()
    return {code: str((definition or {}).get("group") or "") for code, definition in rows}


async def agreement_terms(session: AsyncSession, *, tenant: str) -> dict[str, AgreementTerms]:
    """The agreements a partner lends or borrows under, with their unit rates."""
    rows = (
        await session.scalars(
            select(AgreementRow).where(
                or_(AgreementRow.lender_slug == tenant, AgreementRow.borrower_slug == tenant)
            )
        )
    ).all()
    return {
        r.id: AgreementTerms(
            r.lender_slug, r.borrower_slug, float((r.definition or {}).get("unit_rate") or 0.0)
        )
        for r in rows
    }


async def ledger_lines(
    session: AsyncSession, *, tenant: str, own: list[Timeline], start: datetime, end: datetime
) -> list[LedgerLine]:
    """Both sides of a partner's recharge: its own contacts others handled, and others' it handled."""
    terms = await agreement_terms(session, tenant=tenant)
    lines = ledger(own, {k: t for k, t in terms.items() if t.borrower == tenant})
    for borrower in sorted({t.borrower for t in terms.values() if t.lender == tenant}):
        theirs = await timelines(session, tenant=borrower, start=start, end=end)
        lines += ledger(
            theirs, {k: t for k, t in terms.items() if t.lender == tenant and t.borrower == borrower}
        )
    return lines


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
