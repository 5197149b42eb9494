"""Callback figures per partner × service: requested, rung, reached, missed, retried, given up, completed, and the
time from first queueing to reaching the caller (docs/figures.md, "Callbacks").

What the pages, the pack and its CSV read are the tallies kept as the events land (``routing.tallies``,
``callback_tallies``: each step in the 15-minute slot it happened in); ``from_events`` works the same figures out
of the event log and is the reference they are tested against. A window that does not start and end on a slot
boundary reads its partial first and last slots from the log, so any window is exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from figures.tallied import whole_slots
from routing.models import CallbackTally, Enquiry, EnquiryEvent
from routing.states import EventName
from routing.tallies import CALLBACK_SUMS, NOT_REACHED

# A callback completed as transferred goes on as another contact (its own callback, if it is one).
NOT_COMPLETED = (NOT_REACHED, "transferred")


@dataclass(frozen=True)
class CallbackFigures:
    """One partner's service over a window; a ratio is None when there is nothing to divide by."""

    tenant: str
    service_code: str
    requested: int = 0  # callbacks asked for: offers of one taken, and contacts sent as callbacks
    attempted: int = 0  # times an agent rang
    answered: int = 0  # … and reached the caller
    missed: int = 0  # … and did not (no answer, busy, wrong number)
    retried: int = 0  # missed and put back in the queue for another attempt
    given_up: int = 0  # missed on the last attempt (or a wrong number): completed as not reached
    completed: int = 0  # callbacks completed after their caller was reached
    reached_wait_seconds: float = 0.0  # first queued → reached, summed over the reached attempts

    @property
    def time_to_callback_seconds(self) -> float | None:
        """Mean time from the contact first queueing to the attempt that reached the caller."""
        return self.reached_wait_seconds / self.answered if self.answered else None

    @property
    def reached_rate(self) -> float | None:
        """Attempts that reached the caller, of all attempts."""
        return self.answered / self.attempted if self.attempted else None

    def plus(self, other: CallbackFigures) -> CallbackFigures:
        return _made(
            self.tenant, self.service_code, {n: getattr(self, n) + getattr(other, n) for n in CALLBACK_SUMS}
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reached_wait_seconds"] = round(self.reached_wait_seconds, 3)
        out["time_to_callback_seconds"] = (
            None if self.time_to_callback_seconds is None else round(self.time_to_callback_seconds, 1)
        )
        out["reached_rate"] = self.reached_rate
        return out


async def from_events(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime
) -> dict[str, CallbackFigures]:
    """The reference: each service's callback steps in [start, end), read from the event log."""
    events = (
        await session.execute(
            select(
                EnquiryEvent.enquiry_id,
                EnquiryEvent.event,
                EnquiryEvent.at,
                EnquiryEvent.data,
                Enquiry.service_code,
                Enquiry.channel,
                Enquiry.follow_up,
            )
            .join(Enquiry, Enquiry.id == EnquiryEvent.enquiry_id)
            .where(
                EnquiryEvent.tenant_slug == tenant,
                EnquiryEvent.at >= start,
                EnquiryEvent.at < end,
                EnquiryEvent.event.in_(
                    (
                        EventName.QUEUED,
                        EventName.CALLBACK_ACCEPTED,
                        EventName.CALLBACK_ATTEMPTED.value,
                        EventName.COMPLETED,
                    )
                ),
            )
            .order_by(EnquiryEvent.id)
        )
    ).all()
    reached_at: dict[int, datetime | None] = {
        row.enquiry_id: None
        for row in events
        if row.event == EventName.CALLBACK_ATTEMPTED and (row.data or {}).get("result") == "reached"
    }
    if reached_at:
        # When each reached callback first queued (its queued event may be before the window).
        queued = await session.execute(
            select(EnquiryEvent.enquiry_id, func.min(EnquiryEvent.at))
            .where(EnquiryEvent.enquiry_id.in_(sorted(reached_at)), EnquiryEvent.event == EventName.QUEUED)
            .group_by(EnquiryEvent.enquiry_id)
        )
        reached_at.update({enquiry_id: at for enquiry_id, at in queued.tuples().all()})
    counts: dict[str, dict[str, float]] = {}
    for row in events:
        data = row.data or {}
        c = counts.setdefault(row.service_code, {})
        is_callback = row.channel == "callback" or row.follow_up == "callback"
        if row.event == EventName.QUEUED:
            if row.channel == "callback":
                c["requested"] = c.get("requested", 0) + 1
        elif row.event == EventName.CALLBACK_ACCEPTED:
            c["requested"] = c.get("requested", 0) + 1
        elif row.event == EventName.CALLBACK_ATTEMPTED:
            c["attempted"] = c.get("attempted", 0) + 1
            if data.get("result") == "reached":
                c["answered"] = c.get("answered", 0) + 1
                first = reached_at.get(row.enquiry_id)
                if first is not None:
                    seconds = (row.at - first).total_seconds()
                    c["reached_wait_seconds"] = c.get("reached_wait_seconds", 0.0) + seconds
            else:
                c["missed"] = c.get("missed", 0) + 1
                if data.get("retry_at"):
                    c["retried"] = c.get("retried", 0) + 1
                if data.get("given_up"):
                    c["given_up"] = c.get("given_up", 0) + 1
        elif row.event == EventName.COMPLETED and is_callback and data.get("outcome") not in NOT_COMPLETED:
            c["completed"] = c.get("completed", 0) + 1
    return {code: _made(tenant, code, c) for code, c in sorted(counts.items()) if c}


def _made(tenant: str, code: str, sums: dict[str, float]) -> CallbackFigures:
    """From sums by name (``CALLBACK_SUMS``; a name left out is 0): counts as ints, the wait as seconds."""
    return CallbackFigures(
        tenant,
        code,
        requested=int(sums.get("requested", 0)),
        attempted=int(sums.get("attempted", 0)),
        answered=int(sums.get("answered", 0)),
        missed=int(sums.get("missed", 0)),
        retried=int(sums.get("retried", 0)),
        given_up=int(sums.get("given_up", 0)),
        completed=int(sums.get("completed", 0)),
        reached_wait_seconds=float(sums.get("reached_wait_seconds", 0.0)),
    )


async def from_tallies(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime
) -> dict[str, CallbackFigures]:
    """Whole slots in [start, end) from ``callback_tallies`` (``start`` and ``end`` on slot boundaries)."""
    table = CallbackTally
    rows = await session.execute(
        select(table.service_code, *[func.sum(getattr(table, name)) for name in CALLBACK_SUMS])
        .where(table.tenant_slug == tenant, table.slot >= start, table.slot < end)
        .group_by(table.service_code)
        .order_by(table.service_code)
    )
    return {
        code: _made(tenant, code, {name: float(v or 0) for name, v in zip(CALLBACK_SUMS, sums, strict=True)})
        for code, *sums in rows
    }


async def callback_figures(
    session: AsyncSession, *, tenant: str, start: datetime, end: datetime
) -> dict[str, CallbackFigures]:
    """Each service's callback figures over [start, end): the whole slots from the tallies, the edges from the log."""
    inner_start, inner_end = whole_slots(start, end)
    if inner_start >= inner_end:
        return await from_events(session, tenant=tenant, start=start, end=end)
    out = await from_tallies(session, tenant=tenant, start=inner_start, end=inner_end)
    for edge_start, edge_end in ((start, inner_start), (inner_end, end)):
        if edge_start < edge_end:
            for code, figures in (
                await from_events(session, tenant=tenant, start=edge_start, end=edge_end)
            ).items():
                out[code] = out[code].plus(figures) if code in out else figures
    return dict(sorted(out.items()))


def total(tenant: str, by_service: dict[str, CallbackFigures]) -> CallbackFigures:
    """The partner's callbacks, all services together (service ``*``)."""
    out = CallbackFigures(tenant, "*")
    for figures in by_service.values():
        out = out.plus(replace_service(figures, "*"))
    return out


def replace_service(figures: CallbackFigures, code: str) -> CallbackFigures:
    return _made(figures.tenant, code, {name: getattr(figures, name) for name in CALLBACK_SUMS})
