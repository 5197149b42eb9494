"""Reporting periods: a partner's local month, and publishing one so that it is never rewritten."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from figures.callbacks import callback_figures
from figures.callbacks import total as callback_total
from figures.definitions import (
    AgreementTerms,
    Figures,
    LedgerLine,
    OverflowCell,
    Timeline,
    definitions,
    ledger,
    version_for,
)
from figures.models import PublishedPeriod
from figures.satisfaction import satisfaction_figures
from figures.service import figure_cells, tenant_zone, timelines
from figures.tallied import Handled, Tally, grouped, handled_elsewhere, tallied_occupancy, total
from tenants.agreements.models import AgreementRow
from tenants.models import Service

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    pass


def period_problem(period: str) -> str | None:
    """What is wrong with a period, said so that it can be fixed (None: it is a month)."""
    if PERIOD.match(period):
        return None
    shaped = re.match(r"^(\d{4})-(\d{1,2})$", period.strip())
    if shaped:
        return (
            f"{period!r} has no month {int(shaped[2])}: months run from 01 to 12, "
            f"e.g. {shaped[1]}-10 for October {shaped[1]}"
        )
    return (
        f"{period!r} is not a month: write the year and the month as YYYY-MM, e.g. 2026-10 for October 2026"
    )


def month_bounds(period: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a local calendar month ``YYYY-MM``."""
    match = PERIOD.match(period)
    if not match:
        raise PeriodError(period_problem(period) or period)
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
    # others' contacts this partner's (or the pool's) agents answered, beside ``overflow`` (its own given)
    overflow_received: list[dict[str, Any]] = field(default_factory=list)
    # per service (``figures.callbacks.CallbackFigures.as_dict``), the partner's total first as service "*"
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_published(cls, figures: dict[str, Any], published_at: datetime) -> PeriodFigures:
        """A month as it was frozen. A field added since reads its default; one since dropped is left out, so a
        month published by an older hub still opens."""
        known = {f.name for f in fields(cls)}
        kept = {key: value for key, value in figures.items() if key in known}
        return cls(**{**kept, "published_at": published_at.isoformat()})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _figures(f: Figures) -> dict[str, Any]:
    return asdict(f)


async def compute_period(
    session: AsyncSession,
    *,
    tenant: str,
    period: str,
    version: str | None = None,
    now: datetime | None = None,
) -> PeriodFigures:
    """A month's figures from the interval tallies (``figures.tallied``): sums of ~3,000 slots a service."""
    zone = await tenant_zone(session, tenant)
    start, end = month_bounds(period, zone)
    version = version or version_for(period)  # a month keeps the definitions in force for it
    definitions(version)  # unknown versions fail here, before any work
    items = await figure_cells(
        session, tenant=tenant, start=start, end=end, zone=zone, unit="day", version=version
    )
    by_service = grouped(items, interval=None, zone=zone, by_service=True, by_channel=False)
    by_channel = grouped(items, interval=None, zone=zone, by_service=False, by_channel=True)
    daily = grouped(items, interval="day", zone=zone, by_service=False, by_channel=False)
    mix: dict[str, dict[str, int]] = {}
    for (day, _, channel), tally in grouped(
        items, interval="day", zone=zone, by_service=False, by_channel=True
    ).items():
        assert day is not None
        mix.setdefault(day.date().isoformat(), {})[channel or ""] = int(tally["offered"])
    satisfaction = await satisfaction_figures(session, tenant=tenant, start=start, end=end)
    terms = await agreement_terms(session, tenant=tenant)
    elsewhere = await handled_elsewhere(session, tenant=tenant, start=start, end=end, agreements=terms)
    lines = _ledger(tenant, terms, elsewhere)
    groups = await service_groups(session, tenant=tenant)
    departments: dict[str, Tally] = {}
    for (_, service, _), tally in by_service.items():
        department = departments.setdefault(
            groups.get(service or "") or "Other", Tally(short_abandon_seconds=tally.short_abandon_seconds)
        )
        department.add(tally.sums, tally.longest)
    owes = round(sum(line.amount for line in lines if line.borrower == tenant), 2)
    owed = round(sum(line.amount for line in lines if line.lender == tenant), 2)
    clock = now or datetime.now(UTC)
    return PeriodFigures(
        tenant=tenant,
        period=period,
        definitions_version=version,
        published_at=None,
        totals=_figures(total(items, definitions(version).short_abandon_seconds).figures(version)),
        by_service=[
            {"service_code": service, **_figures(t.figures(version))}
            for (_, service, _), t in by_service.items()
        ],
        by_channel=[
            {"channel": channel, **_figures(t.figures(version))} for (_, _, channel), t in by_channel.items()
        ],
        daily=[
            {
                "date": day.date().isoformat(),
                "channels": mix.get(day.date().isoformat(), {}),
                **_figures(t.figures(version)),
            }
            for (day, _, _), t in daily.items()
            if day is not None
        ],
        overflow=[asdict(c) for c in _overflow(elsewhere, owner=tenant)],
        occupancy=await tallied_occupancy(session, tenant=tenant, start=start, end=end, now=clock),
        satisfaction={**asdict(satisfaction), "net_score": satisfaction.net_score},
        by_department=[
            {"department": name, **_figures(t.figures(version))} for name, t in sorted(departments.items())
        ],
        ledger=[asdict(line) for line in lines],
        recharge={"owes": owes, "owed": owed, "net": round(owed - owes, 2)},
        overflow_received=[asdict(c) for c in _overflow(elsewhere, handler=tenant)],
        callbacks=await _callbacks(session, tenant=tenant, start=start, end=end),
    )


async def _callbacks(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The month's callbacks per service, the partner's total first (none: an empty list)."""
    by_service = await callback_figures(session, tenant=tenant, start=start, end=end)
    if not by_service:
        return []
    return [callback_total(tenant, by_service).as_dict(), *(f.as_dict() for f in by_service.values())]


def _overflow(
    elsewhere: list[Handled], *, owner: str | None = None, handler: str | None = None
) -> list[OverflowCell]:
    """Owner × handler of contacts another partner's agents answered: given (``owner``) or received (``handler``)."""
    cells: dict[tuple[str, str], list[int]] = {}
    for row in elsewhere:
        if row.handler == row.owner or (owner and row.owner != owner) or (handler and row.handler != handler):
            continue
        cell = cells.setdefault((row.owner, row.handler), [0, 0])
        cell[0] += row.handled
        cell[1] += row.answered_within_threshold
    return [OverflowCell(o, h, n, w) for (o, h), (n, w) in sorted(cells.items())]


def _ledger(tenant: str, terms: dict[str, AgreementTerms], elsewhere: list[Handled]) -> list[LedgerLine]:
    """Both sides of a partner's recharge: its own contacts others answered under an agreement, and others' it
    answered (``figures.definitions.ledger`` over the tallies, in the same order)."""
    counts: dict[tuple[str, str], list[int]] = {}
    for row in elsewhere:
        term = terms.get(row.agreement)
        if term is None or row.owner != term.borrower or tenant not in (term.borrower, term.lender):
            continue
        cell = counts.setdefault((row.owner, row.agreement), [0, 0])
        cell[0] += row.handled
        cell[1] += row.answered_within_threshold
    own = sorted((a, c) for (o, a), c in counts.items() if o == tenant)
    theirs = sorted((o, a, c) for (o, a), c in counts.items() if o != tenant)
    lines = []
    for agreement, (handled, within) in own + [(a, c) for _, a, c in theirs]:
        term = terms[agreement]
        amount = round(handled * term.unit_rate, 2)
        lines.append(
            LedgerLine(agreement, term.lender, term.borrower, handled, within, term.unit_rate, amount)
        )
    return lines


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
        return PeriodFigures.from_published(published.figures, published.published_at)
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
    figures = await compute_period(session, tenant=tenant, period=period, now=now)
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
