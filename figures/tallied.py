"""Figures read from the interval tallies (routing/tallies.py): sums of 15-minute slots, not timelines.

A range that does not start and end on a slot boundary reads its partial first and last slots from the event
log (``figures.service.timelines``, the reference), at most half an hour of contacts; everything between comes
from the tallies. The reference and the tallies give the same figures: tests/figures/test_tallies.py proves it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from figures.definitions import Figures, Timeline, definitions
from routing.models import FigureTally
from routing.tallies import SHORT_ABANDON_COLUMNS, SLOT, SUMS, agent_time, contribution, slot_of

INTERVALS = ("15min", "hour", "day", "month")


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class Tally:
    """The counts and sums of a group of contacts (``routing.tallies.SUMS``) and their longest wait.

    Short abandons are counted under each definitions version's limit (``SHORT_ABANDON_COLUMNS``), so one tally
    gives the figures of any version."""

    sums: list[float] = field(default_factory=lambda: [0.0] * len(SUMS))
    longest: float | None = None

    def add(self, sums: Iterable[float], longest: float | None) -> Tally:
        for i, value in enumerate(sums):
            self.sums[i] += value or 0.0
        if longest is not None:
            self.longest = longest if self.longest is None else max(self.longest, longest)
        return self

    def __getitem__(self, name: str) -> float:
        return self.sums[SUMS.index(name)]

    def figures(self, version: str | None = None) -> Figures:
        rules = definitions(version)
        offered, answered, within = int(self["offered"]), int(self["answered"]), int(self["answered_within"])
        abandoned, handled = int(self["abandoned"]), int(self["handled"])
        short = int(self[short_abandon_column(rules.short_abandon_seconds)])
        long_abandoned = abandoned - short
        return Figures(
            offered=offered,
            answered=answered,
            answered_within_threshold=within,
            abandoned=abandoned,
            short_abandoned=short,
            service_level=_ratio(within, answered + long_abandoned),
            abandonment_rate=_ratio(long_abandoned, offered),
            asa_seconds=_ratio(self["answered_wait"], answered),
            handled=handled,
            aht_seconds=_ratio(self["handle_seconds"], handled),
            first_contact_resolution=_ratio(self["resolved"], handled),
            longest_wait_seconds=self.longest,
            callbacks=int(self["callbacks"]),
            transfers=int(self["transfers"]),
            avoidable=int(self["avoidable"]),
            definitions_version=rules.version,
        )


def short_abandon_column(limit: float) -> str:
    """The tally column counting abandons under ``limit`` seconds."""
    column = SHORT_ABANDON_COLUMNS.get(limit)
    if column is None:
        raise ValueError(
            f"the tallies count no short abandons under {limit} s: add a column (routing/tallies.py)"
        )
    return column


def timeline_tally(t: Timeline) -> Tally:
    sums, wait = contribution(
        queued_at=t.queued_at,
        answered_at=t.answered_at,
        abandoned_at=t.abandoned_at,
        completed_at=t.completed_at,
        wrap_seconds=t.wrap_seconds,
        threshold_seconds=t.threshold_seconds,
        outcome=t.outcome,
        transferred=t.transferred,
        callback=t.callback,
        avoidable=t.avoidable,
    )
    return Tally().add(sums, wait)


@dataclass(frozen=True)
class Cell:
    """A group of one owner's contacts: when (a slot, or an interval start), service, channel and their tally."""

    at: datetime
    service_code: str
    channel: str
    tally: Tally


def _sums() -> list[Any]:
    return [func.sum(FigureTally.__table__.c[name]) for name in SUMS] + [
        func.max(FigureTally.__table__.c.longest_wait)
    ]


def _truncated(unit: str, zone: ZoneInfo, postgres: bool) -> Any:
    """The interval a slot falls in, computed by the database where it can (fewer rows come back)."""
    slot = FigureTally.__table__.c.slot
    if not postgres or unit == "15min":
        return slot
    if unit == "hour":  # whole-hour zone offsets: hours are UTC hours (the fall-back hour stays two hours)
        return func.date_trunc("hour", slot)
    return func.date_trunc(unit, func.timezone(zone.key, slot))


async def cells(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime, zone: ZoneInfo, unit: str = "15min"
) -> list[Cell]:
    """An owner's contacts first queued in the whole slots of [start, end), per ``unit`` (or finer), service
    and channel."""
    postgres = session.get_bind().dialect.name == "postgresql"
    when = _truncated(unit, zone, postgres).label("at")
    t = FigureTally.__table__.c
    query: Select[Any] = (
        select(when, t.service_code, t.channel, *_sums())
        .where(t.tenant_slug == tenant, t.slot >= start, t.slot < end)
        .group_by(literal_column("1"), t.service_code, t.channel)
    )
    out = []
    for row in await session.execute(query):
        at = row[0]
        if postgres and unit in ("day", "month"):
            at = at.replace(tzinfo=zone)  # a local midnight, as the database truncated it
        elif unit != "15min" and not postgres:
            at = interval_start(at, unit, zone)
        out.append(Cell(at, row[1], row[2], Tally().add(row[3:-1], row[-1])))
    return out


async def counted(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime, columns: Iterable[str]
) -> bool:
    """Whether every tally row of an owner's slots in [start, end) has counted ``columns`` (a row kept before a
    column existed holds NULL in it until ``hub figures rebuild``)."""
    t = FigureTally.__table__.c
    nullable = [t[c] for c in columns if t[c].nullable]
    if not nullable:
        return True
    uncounted = await session.scalar(
        select(t.id)
        .where(t.tenant_slug == tenant, t.slot >= start, t.slot < end, or_(*(c.is_(None) for c in nullable)))
        .limit(1)
    )
    return uncounted is None


def whole_slots(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The slot-aligned part [inner_start, inner_end) of [start, end) (empty when inner_start >= inner_end)."""
    first = slot_of(start)
    return (first if first == start else first + SLOT), slot_of(end)


def interval_start(moment: datetime, interval: str, zone: ZoneInfo) -> datetime:
    """The start of the interval holding ``moment``, on the partner's local clock (months are local months)."""
    local = moment.astimezone(zone)
    if interval == "15min":
        local = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    elif interval == "hour":
        local = local.replace(minute=0, second=0, microsecond=0)
    elif interval == "day":
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elif interval == "month":
        local = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    return local


def total(items: Iterable[Cell]) -> Tally:
    tally = Tally()
    for cell in items:
        tally.add(cell.tally.sums, cell.tally.longest)
    return tally


def grouped(
    items: Iterable[Cell], *, interval: str | None, zone: ZoneInfo, by_service: bool, by_channel: bool
) -> dict[tuple[datetime | None, str | None, str | None], Tally]:
    """Sum cells per interval (None: the whole range), service and channel (None: all)."""
    groups: dict[tuple[datetime | None, str | None, str | None], Tally] = defaultdict(Tally)
    for cell in items:
        key = (
            interval_start(cell.at, interval, zone) if interval else None,
            cell.service_code if by_service else None,
            cell.channel if by_channel else None,
        )
        groups[key].add(cell.tally.sums, cell.tally.longest)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or "", kv[0][2] or "")))


@dataclass(frozen=True)
class Handled:
    """Contacts of one owner answered by another partner's agents, per agreement."""

    owner: str
    handler: str
    agreement: str
    handled: int
    answered_within_threshold: int


async def handled_elsewhere(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime, agreements: Iterable[str] = ()
) -> list[Handled]:
    """Answered contacts first queued in [start, end) that a partner's agents took for another partner, where
    ``tenant`` is the owner or the handler, or under one of ``agreements``. Whole slots only: callers pass months.
    """
    t = FigureTally.__table__.c
    wanted = [t.tenant_slug == tenant, t.handler_slug == tenant]
    names = list(agreements)
    if names:
        wanted.append(t.agreement_id.in_(names))
    rows = await session.execute(
        select(
            t.tenant_slug,
            t.handler_slug,
            t.agreement_id,
            func.sum(t.answered),
            func.sum(t.answered_within),
        )
        .where(t.slot >= slot_of(start), t.slot < end, t.handler_slug != "", or_(*wanted))
        .group_by(t.tenant_slug, t.handler_slug, t.agreement_id)
        .order_by(t.tenant_slug, t.handler_slug, t.agreement_id)
    )
    return [Handled(o, h, a, int(n or 0), int(w or 0)) for o, h, a, n, w in rows if n]


async def tallied_occupancy(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime, now: datetime
) -> float | None:
    """Handling ÷ (handling + available) of a partner's agents in [start, end), open spells up to ``now``
    (``figures.definitions.occupancy`` over ``figures.service.agent_spans``, from the agent tallies)."""
    handling, available = await agent_time(session, tenant=tenant, start=start, end=end, now=now)
    return _ratio(handling, handling + available)
