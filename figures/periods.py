"""Reporting periods: a partner's local month, and publishing one so that it is never rewritten."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
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
from routing.tallies import SLOT, slot_of
from tenants.agreements.models import AgreementVersion
from tenants.models import CatalogueVersion, Service

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
    # set when these figures correct an earlier publication: which (its id and date) and why
    correction: dict[str, Any] | None = None
    # per service (``figures.callbacks.CallbackFigures.as_dict``), the partner's total first as service "*"
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_published(
        cls, figures: dict[str, Any], published_at: datetime, correction: dict[str, Any] | None = None
    ) -> PeriodFigures:
        """A month as it was frozen. A field added since reads its default; one since dropped is left out, so a
        month published by an older hub still opens."""
        known = {f.name for f in fields(cls)}
        kept = {key: value for key, value in figures.items() if key in known}
        return cls(**{**kept, "published_at": published_at.isoformat(), "correction": correction})

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
    history = await agreement_history(session, tenant=tenant)
    elsewhere = await handled_elsewhere(session, tenant=tenant, start=start, end=end, agreements=history)
    lines = await _ledger_in_force(session, tenant, history, start, end, elsewhere)
    groups = await service_groups(session, tenant=tenant, at=end)
    departments: dict[str, Tally] = {}
    for (_, service, _), tally in by_service.items():
        department = departments.setdefault(groups.get(service or "") or "Other", Tally())
        department.add(tally.sums, tally.longest)
    owes = round(sum(line.amount for line in lines if line.borrower == tenant), 2)
    owed = round(sum(line.amount for line in lines if line.lender == tenant), 2)
    clock = now or datetime.now(UTC)
    return PeriodFigures(
        tenant=tenant,
        period=period,
        definitions_version=version,
        published_at=None,
        totals=_figures(total(items).figures(version)),
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


async def _ledger_in_force(
    session: AsyncSession,
    tenant: str,
    history: dict[str, list[tuple[datetime, AgreementTerms | None]]],
    start: datetime,
    end: datetime,
    elsewhere: list[Handled],
) -> list[LedgerLine]:
    """The ledger with each contact charged under the agreement as it stood when the contact was routed: the
    month is cut where a version took effect (``terms_from``) and each stretch priced at its own terms, so an
    agreement edited or ended later never changes a past month. Lines of one agreement at one rate are summed."""
    cuts = sorted({at for versions in history.values() for at, _ in versions[1:] if start < at < end})
    if not cuts:
        return _ledger(tenant, _terms_at(history, start), elsewhere)
    summed: dict[tuple[str, float], LedgerLine] = {}  # in order of first appearance: own work first
    for a, b in zip([start, *cuts], [*cuts, end], strict=True):
        stretch = await handled_elsewhere(session, tenant=tenant, start=a, end=b, agreements=history)
        for line in _ledger(tenant, _terms_at(history, a), stretch):
            key = (line.agreement, line.unit_rate)
            was = summed.get(key)
            if was is not None:
                handled = was.handled + line.handled
                line = replace(
                    was,
                    handled=handled,
                    answered_within_threshold=was.answered_within_threshold + line.answered_within_threshold,
                    amount=round(handled * line.unit_rate, 2),
                )
            summed[key] = line
    return list(summed.values())


def terms_from(valid_from: datetime) -> datetime:
    """A version applies to contacts first queued from the next whole 15-minute slot on (the tallies' grain): a
    contact routed before the change is never charged at the new terms."""
    slot = slot_of(valid_from)
    return slot if slot == valid_from.astimezone(UTC) else slot + SLOT


def _terms_at(
    history: dict[str, list[tuple[datetime, AgreementTerms | None]]], moment: datetime
) -> dict[str, AgreementTerms]:
    """Each agreement's terms in force at ``moment``; before its first version, the first (work loaded from
    before the hub kept versions, or dated before the agreement was stored, is priced as it was first agreed)."""
    out: dict[str, AgreementTerms] = {}
    for agreement, versions in history.items():
        term = versions[0][1]
        for at, version in versions[1:]:
            if at <= moment:
                term = version
        if term is not None:
            out[agreement] = term
    return out


async def agreement_history(
    session: AsyncSession, *, tenant: str
) -> dict[str, list[tuple[datetime, AgreementTerms | None]]]:
    """Every version of the agreements a partner lends or borrows under, oldest first, each from the slot it
    applies from (``terms_from``); an ended agreement's last version has no terms."""
    rows = (
        await session.scalars(
            select(AgreementVersion)
            .where(or_(AgreementVersion.lender_slug == tenant, AgreementVersion.borrower_slug == tenant))
            .order_by(AgreementVersion.agreement_id, AgreementVersion.valid_from, AgreementVersion.id)
        )
    ).all()
    history: dict[str, list[tuple[datetime, AgreementTerms | None]]] = {}
    for r in rows:
        terms = (
            None
            if r.definition is None
            else AgreementTerms(r.lender_slug, r.borrower_slug, float(r.definition.get("unit_rate") or 0.0))
        )
        history.setdefault(r.agreement_id, []).append((terms_from(r.valid_from), terms))
    return history


async def catalogue_history(session: AsyncSession, *, tenant: str) -> list[tuple[datetime, dict[str, Any]]]:
    """A partner's catalogue versions, oldest first: when each was written and what it said."""
    rows = await session.execute(
        select(CatalogueVersion.created_at, CatalogueVersion.definition)
        .where(CatalogueVersion.tenant_slug == tenant)
        .order_by(CatalogueVersion.version)
    )
    return [(at, definition or {}) for at, definition in rows.tuples()]


def catalogue_at(history: list[tuple[datetime, dict[str, Any]]], moment: datetime) -> dict[str, Any] | None:
    """The catalogue as it stood at ``moment`` (before its first version: the first). A month is read with the
    catalogue at its end, so a later change never regroups or re-judges it."""
    found = history[0][1] if history else None
    for at, definition in history:
        if at <= moment:
            found = definition
    return found


async def service_groups(session: AsyncSession, *, tenant: str, at: datetime | None = None) -> dict[str, str]:
    """Service code to its catalogue group (the council department the committee reads by), as the catalogue
    stood at ``at`` (the month's end; None: the current catalogue)."""
    document = catalogue_at(await catalogue_history(session, tenant=tenant), at) if at is not None else None
    if document is not None:
        return {str(s["code"]): str(s.get("group") or "") for s in document.get("services") or []}
    rows = (
        await session.execute(select(Service.code, Service.definition).where(Service.tenant_slug == tenant))
    ).all()
    return {code: str((definition or {}).get("group") or "") for code, definition in rows}


async def ledger_lines(
    session: AsyncSession, *, tenant: str, own: list[Timeline], start: datetime, end: datetime
) -> list[LedgerLine]:
    """Both sides of a partner's recharge: its own contacts others handled, and others' it handled (the reference,
    for one version of each agreement: the one in force at ``start``)."""
    terms = _terms_at(await agreement_history(session, tenant=tenant), start)
    lines = ledger(own, {k: t for k, t in terms.items() if t.borrower == tenant})
    for borrower in sorted({t.borrower for t in terms.values() if t.lender == tenant}):
        theirs = await timelines(session, tenant=borrower, start=start, end=end)
        lines += ledger(
            theirs, {k: t for k, t in terms.items() if t.lender == tenant and t.borrower == borrower}
        )
    return lines


async def _publications(session: AsyncSession, *, tenant: str, period: str) -> list[PublishedPeriod]:
    """A month's publications, the original first and each correction after the row it corrects."""
    rows = (
        await session.scalars(
            select(PublishedPeriod)
            .where(PublishedPeriod.tenant_slug == tenant, PublishedPeriod.period == period)
            .order_by(PublishedPeriod.id)
        )
    ).all()
    return list(rows)


def _as_published(row: PublishedPeriod, earlier: list[PublishedPeriod]) -> PeriodFigures:
    corrected = next((r for r in earlier if r.id == row.corrects), None)
    correction = (
        None
        if row.corrects is None
        else {
            "corrects": row.corrects,
            "corrects_published_at": corrected.published_at.isoformat() if corrected is not None else None,
            "reason": row.reason,
        }
    )
    return PeriodFigures.from_published(row.figures, row.published_at, correction)


async def period_figures(session: AsyncSession, *, tenant: str, period: str) -> PeriodFigures:
    """A published period exactly as published (its latest correction, if any); otherwise computed now with the
    current definitions."""
    chain = await _publications(session, tenant=tenant, period=period)
    if chain:
        return _as_published(chain[-1], chain)
    return await compute_period(session, tenant=tenant, period=period)


async def publish_period(session: AsyncSession, *, tenant: str, period: str, now: datetime) -> PeriodFigures:
    """Freeze a period's figures with the definitions in force; publishing twice is refused."""
    chain = await _publications(session, tenant=tenant, period=period)
    if chain:
        raise PeriodError(
            f"{period} is already published for {tenant} (definitions {chain[0].definitions_version}); "
            "to put a mistake right, publish a correction"
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


async def correct_period(
    session: AsyncSession, *, tenant: str, period: str, now: datetime, reason: str
) -> PeriodFigures:
    """Publish a published month again from the log as it is now (events loaded late, a rebuild), as a new row
    that names the publication it corrects and why; that one stays as it was quoted. The month keeps the
    definitions it was first published with."""
    if not reason.strip():
        raise PeriodError("say why the month is corrected: the committee reads the reason beside the figures")
    chain = await _publications(session, tenant=tenant, period=period)
    if not chain:
        raise PeriodError(f"{period} is not published for {tenant}: there is nothing to correct")
    latest = chain[-1]
    figures = await compute_period(
        session, tenant=tenant, period=period, version=chain[0].definitions_version, now=now
    )
    row = PublishedPeriod(
        tenant_slug=tenant,
        period=period,
        definitions_version=figures.definitions_version,
        published_at=now,
        figures=figures.to_json(),
        corrects=latest.id,
        reason=reason.strip(),
    )
    session.add(row)
    await session.flush()
    return _as_published(row, chain)
