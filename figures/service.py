"""Read per-contact timelines and agent time from the event logs, and group the figures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from figures.definitions import (
    AgentSpan,
    Figures,
    Timeline,
    compute,
    definitions,
    version_at,
    versions_between,
)
from figures.tallied import (
    Cell,
    cells,
    counted,
    grouped,
    interval_start,
    short_abandon_column,
    timeline_tally,
    total,
    whole_slots,
)
from routing.models import EnquiryEvent
from routing.states import EventName
from routing.tallies import thresholds, wrap_seconds
from tenants.models import AgentEvent, Tenant

TIMELINE_EVENTS = (
    EventName.QUEUED,
    EventName.OFFERED,
    EventName.ANSWERED,
    EventName.ABANDONED,
    EventName.COMPLETED,
    EventName.TRANSFERRED,
    EventName.CALLBACK_OFFERED,
)


async def timelines(session: AsyncSession, *, tenant: str, start: datetime, end: datetime) -> list[Timeline]:
    """Contacts first queued in [start, end) for an owner tenant; a figure counts against the owner."""
    in_period = (
        select(EnquiryEvent.enquiry_id)
        .where(
            EnquiryEvent.tenant_slug == tenant,
            EnquiryEvent.event == EventName.QUEUED,
            EnquiryEvent.at >= start,
            EnquiryEvent.at < end,
        )
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(
                EnquiryEvent.enquiry_id,
                EnquiryEvent.event,
                EnquiryEvent.at,
                EnquiryEvent.handler_slug,
                EnquiryEvent.agent_id,
                EnquiryEvent.data,
            )
            .where(EnquiryEvent.enquiry_id.in_(in_period), EnquiryEvent.event.in_(TIMELINE_EVENTS))
            .order_by(EnquiryEvent.id)
        )
    ).all()
    # owner, service, channel and the threshold of the catalogue version each was routed under
    enquiries = await thresholds(session, {row.enquiry_id for row in rows})
    by_enquiry: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_enquiry[row.enquiry_id].append(row)
    # the reference reads every wrap-up to its end, however long (the tallies cut one at a day)
    wraps = await wrap_seconds(
        session,
        [(r.enquiry_id, r.agent_id, r.at) for r in rows if r.event == EventName.COMPLETED and r.agent_id],
        horizon=None,
    )
    out = []
    for enquiry_id, events in by_enquiry.items():
        owner, service_code, channel, threshold = enquiries[enquiry_id]
        first: dict[str, Any] = {}
        agreement: str | None = None
        for event in events:
            first.setdefault(event.event, event)
            if event.event == EventName.OFFERED and EventName.ANSWERED not in first:
                agreement = (event.data or {}).get("agreement")  # the offer that was answered decides
        queued = first[EventName.QUEUED]
        answered, abandoned, completed = (
            first.get(f"enquiry.{n}") for n in ("answered", "abandoned", "completed")
        )
        outcome = completed.data.get("outcome") if completed else None
        tags = set(completed.data.get("tags", [])) if completed else set()
        out.append(
            Timeline(
                enquiry_id=enquiry_id,
                queued_at=queued.at,
                answered_at=answered.at if answered else None,
                abandoned_at=abandoned.at if abandoned else None,
                threshold_seconds=threshold,
                owner=owner,
                handler=answered.handler_slug if answered else None,
                service_code=service_code,
                channel=channel,
                completed_at=completed.at if completed else None,
                outcome=outcome,
                wrap_seconds=wraps.get(enquiry_id, 0.0),
                transferred=EventName.TRANSFERRED in first or outcome == "transferred",
                callback=EventName.CALLBACK_OFFERED in first or outcome == "callback_booked",
                avoidable=bool(tags & {"avoidable"}) or any(t.startswith("avoidable:") for t in tags),
                agreement=agreement if answered else None,
            )
        )
    return out


async def agent_spans(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime
) -> list[AgentSpan]:
    """Each agent's status stretches clipped to [start, end), from the append-only agent_events log."""
    rows = (
        await session.execute(
            select(AgentEvent.agent_id, AgentEvent.status, AgentEvent.at, AgentEvent.previous)
            .where(AgentEvent.tenant_slug == tenant, AgentEvent.at < end)
            .order_by(AgentEvent.agent_id, AgentEvent.at, AgentEvent.id)
        )
    ).all()
    spans: list[AgentSpan] = []
    current: dict[str, tuple[str, datetime]] = {}
    for row in rows:
        if row.agent_id in current:
            status, since = current[row.agent_id]
            _add_span(spans, row.agent_id, tenant, status, since, row.at, start, end)
        current[row.agent_id] = (row.status, row.at)
    for agent_id, (status, since) in current.items():
        _add_span(spans, agent_id, tenant, status, since, end, start, end)
    return spans


def _add_span(
    spans: list[AgentSpan],
    agent: str,
    tenant: str,
    status: str,
    begin: datetime,
    finish: datetime,
    start: datetime,
    end: datetime,
) -> None:
    begin, finish = max(begin, start), min(finish, end)
    if finish > begin:
        spans.append(AgentSpan(agent, tenant, status, begin, finish))


async def figure_cells(
    session: AsyncSession,
    *,
    tenant: str,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    unit: str = "15min",
    version: str | None = None,
) -> list[Cell]:
    """An owner's contacts first queued in [start, end) as cells: the whole 15-minute slots from the tallies, the
    partial first and last slots (at most half an hour) from the event log.

    The cells hold short abandons under each definitions version's limit; the range is read from the event log
    alone if a row of it has not counted the limit of ``version`` (or, with none, of a version in force for one
    of its months): a row kept before its column existed, until ``hub figures rebuild``."""
    wanted = {version} if version else versions_between(start.astimezone(zone), end.astimezone(zone))
    columns = {short_abandon_column(definitions(v).short_abandon_seconds) for v in wanted}
    inner_start, inner_end = whole_slots(start, end)
    if inner_start < inner_end and not await counted(
        session, tenant=tenant, start=inner_start, end=inner_end, columns=columns
    ):
        inner_start = inner_end = end
    edges = [(start, end)] if inner_start >= inner_end else [(start, inner_start), (inner_end, end)]
    out = (
        []
        if inner_start >= inner_end
        else await cells(session, tenant=tenant, start=inner_start, end=inner_end, zone=zone, unit=unit)
    )
    for edge_start, edge_end in edges:
        if edge_start < edge_end:
            for t in await timelines(session, tenant=tenant, start=edge_start, end=edge_end):
                out.append(Cell(t.queued_at, t.service_code, t.channel, timeline_tally(t)))
    return out


async def tenant_figures(session: AsyncSession, *, tenant: str, start: datetime, end: datetime) -> Figures:
    """Every figure of an owner's contacts first queued in [start, end), from the tallies, under the definitions
    in force at ``start`` on the partner's clock."""
    zone = await tenant_zone(session, tenant)
    version = version_at(start.astimezone(zone))
    return total(
        await figure_cells(
            session, tenant=tenant, start=start, end=end, zone=zone, unit="month", version=version
        )
    ).figures(version)


def tallied_rows(
    items: list[Cell],
    *,
    interval: str,
    zone: ZoneInfo,
    by_service: bool,
    by_channel: bool,
    version: str | None = None,
) -> list[FigureRow]:
    """``group_figures`` over cells instead of timelines: the same rows. Without a ``version`` each row is under
    the definitions in force for its interval."""
    return [
        FigureRow(at, service, channel, tally.figures(version or version_at(at)))
        for (at, service, channel), tally in grouped(
            items, interval=interval, zone=zone, by_service=by_service, by_channel=by_channel
        ).items()
        if at is not None
    ]


@dataclass(frozen=True)
class FigureRow:
    interval_start: datetime
    service_code: str | None
    channel: str | None
    figures: Figures


def group_figures(
    contacts: Iterable[Timeline],
    *,
    interval: str,
    zone: ZoneInfo,
    by_service: bool,
    by_channel: bool,
    version: str | None = None,
) -> list[FigureRow]:
    groups: dict[tuple[datetime, str | None, str | None], list[Timeline]] = defaultdict(list)
    for t in contacts:
        key = (
            interval_start(t.queued_at, interval, zone),
            t.service_code if by_service else None,
            t.channel if by_channel else None,
        )
        groups[key].append(t)
    return [
        FigureRow(start, service, channel, compute(items, version or version_at(start)))
        for (start, service, channel), items in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2] or "")
        )
    ]


async def tenant_zone(session: AsyncSession, tenant: str) -> ZoneInfo:
    row = await session.get(Tenant, tenant)
    return ZoneInfo(row.timezone if row else "Europe/London")
