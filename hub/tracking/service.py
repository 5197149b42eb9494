"""What the public may see about one enquiry, found by its unguessable reference.

Only the service, the council, the channel and the dates, the status and the back office's notes: never the
customer's name, phone, email, address or UPRN, nor the free text they gave (it may hold any of those).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backoffice.models import Case, CaseUpdate
from backoffice.status import case_states, status_label
from routing.models import Enquiry
from tenants.models import Service, Tenant
from tenants.service import service_names

CHANNEL_LABELS = {
    "phone": "by phone",
    "web": "online",
    "email": "by email",
    "face_to_face": "in person",
    "callback": "by callback request",
}


@dataclass(frozen=True)
class UpdateView:
    at: datetime
    status: str
    status_label: str
    notes: str | None
    expected_date: date | None


@dataclass(frozen=True)
class TrackingView:
    reference: str
    council: str
    service: str
    channel: str
    channel_label: str
    received_at: datetime
    status: str
    status_label: str
    expected_date: date | None
    passed_to_back_office_at: datetime | None
    updates: list[UpdateView] = field(default_factory=list)  # newest first
    timezone: str = "Europe/London"  # the council's: dates and times on the page are its local ones

    def as_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "council": self.council,
            "service": self.service,
            "channel": self.channel,
            "received_at": self.received_at.isoformat(),
            "status": self.status,
            "status_label": self.status_label,
            "expected_date": self.expected_date.isoformat() if self.expected_date else None,
            "passed_to_back_office_at": (
                self.passed_to_back_office_at.isoformat() if self.passed_to_back_office_at else None
            ),
            "updates": [
                {
                    "at": u.at.isoformat(),
                    "status": u.status,
                    "status_label": u.status_label,
                    "notes": u.notes,
                    "expected_date": u.expected_date.isoformat() if u.expected_date else None,
                }
                for u in self.updates
            ],
        }


async def track(session: AsyncSession, reference: str) -> TrackingView | None:
    """The public view of the enquiry with this reference, or None (also for anything not a reference)."""
    reference = reference.strip().upper()
    if not reference or len(reference) > 32:
        return None
    row = (
        await session.execute(
            select(Enquiry, Service.name, Tenant.name, Tenant.timezone)
            .join(Service, Service.id == Enquiry.service_id)
            .join(Tenant, Tenant.slug == Enquiry.tenant_slug)
            .where(Enquiry.reference == reference)
        )
    ).first()
    if row is None:
        return None
    enquiry, today_name, council, timezone = row
    # The service as the enquiry's own catalogue version named it (a rename since does not rewrite it).
    names = await service_names(session, tenant=enquiry.tenant_slug, versions={enquiry.catalogue_version})
    service_name = names.get((enquiry.catalogue_version, enquiry.service_code)) or today_name
    case = await session.get(Case, enquiry.id)
    updates = (
        await session.scalars(
            select(CaseUpdate)
            .where(CaseUpdate.enquiry_id == enquiry.id)
            .order_by(CaseUpdate.at.desc(), CaseUpdate.id.desc())
        )
    ).all()
    state = (await case_states(session, [enquiry]))[enquiry.id]
    return TrackingView(
        reference=enquiry.reference,
        council=council,
        service=service_name,
        channel=enquiry.channel,
        channel_label=CHANNEL_LABELS.get(enquiry.channel, enquiry.channel),
        received_at=enquiry.received_at,
        status=state.status,
        status_label=state.label,
        expected_date=state.expected_date,
        passed_to_back_office_at=case.passed_at if case is not None else None,
        updates=[
            UpdateView(u.at, u.status, status_label(u.status), u.notes, u.expected_date) for u in updates
        ],
        timezone=timezone or "Europe/London",
    )
