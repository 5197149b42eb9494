"""Open311 GeoReport v2 on the hub: what each endpoint reads or does, with the standard's errors.

A POST enters through the same intake path as an AMQP message (``hub.intake.process``), as a ``web``
enquiry of the partner named by ``jurisdiction_id``; its ``service_request_id`` is the enquiry's public
reference. Reads show what is safe to publish: status, service, dates and the reported location; never
the customer's own details. A request's service name, resolution target and hours are those of the
catalogue version it was routed under.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backoffice.status import CaseState, case_states, status_label, version_documents
from hub.runtime import Hub
from plumbing.auth.service import check_api_key
from plumbing.bus.base import IncomingMessage
from plumbing.georeport import safe_http_url, w3c
from routing.models import Enquiry, EnquiryEvent
from routing.states import EventName
from tenants.attributes import check_attributes
from tenants.catalogue import ServiceInfo, TenantInfo

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-22T00:00:00Z"  # when this endpoint's behaviour last changed
MAX_DESCRIPTION = 4000
MAX_REQUESTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
UPDATES_WINDOW = timedelta(days=1)

# Marks the enquiries posted here: their description was written for an Open311 (public) client, so it
# may be shown back; text that reached the hub any other way may hold personal details and is not.
OPEN311_MESSAGE_PREFIX = "open311-"

_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_]+)\](\[\])?$")

# Public wording only: an agent's own notes can hold personal details, so they are never published.
_OUTCOME_NOTES = {
    "resolved": "Resolved.",
    "passed_to_back_office": "Passed to the service team to act on.",
    "transferred": "Transferred to the team responsible.",
    "callback_booked": "We will call you back.",
    "no_action": "Closed; no further action needed.",
}
_UPDATE_STATUS = {  # mySociety's extended statuses
    "resolved": "fixed",
    "passed_to_back_office": "internal_referral",
    "transferred": "internal_referral",
    "callback_booked": "action_scheduled",
    "no_action": "no_further_action",
}
_PUBLIC_EVENTS = (
    EventName.RECEIVED,
    EventName.ANSWERED,
    EventName.COMPLETED,
    EventName.ABANDONED,
    EventName.CASE_UPDATED,  # a back office's update, at its own time (backoffice.updates)
)
# A back office's status in mySociety's extended spelling (routing.case_status.STATUSES).
_CASE_UPDATE_STATUS = {
    "received": "open",
    "in_progress": "in_progress",
    "scheduled": "action_scheduled",
    "resolved": "fixed",
    "closed": "closed",
}


class Open311Error(Exception):
    """A request the standard says to refuse: HTTP ``status`` with a sentence naming what is wrong."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


Params = Mapping[str, Sequence[str]]


def first(params: Params, name: str) -> str | None:
    """The first non-empty value of ``name``; clients send empty fields for what they do not know."""
    for value in params.get(name, ()):
        if value.strip():
            return value.strip()
    return None


def _comma_list(params: Params, name: str) -> list[str]:
    return [v.strip() for raw in params.get(name, ()) for v in raw.split(",") if v.strip()]


def _datetime_param(params: Params, name: str) -> datetime | None:
    value = first(params, name)
    if value is None:
        return None
    try:
        # An unescaped "+00:00" in a query string arrives as " 00:00".
        moment = datetime.fromisoformat(value.replace(" ", "+"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C date-time such as 2026-11-22T10:00:00Z") from None
    # A zone-less time is read as UTC, the zone every date-time of this endpoint is in.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- jurisdictions and keys ------------------------------------------------------------------------------


async def jurisdiction(hub: Hub, params: Params, *, required: bool = True) -> TenantInfo | None:
    slug = first(params, "jurisdiction_id")
    if slug is None:
        if required:
            raise Open311Error(400, "jurisdiction_id is required (the partner's slug, e.g. chorley)")
        return None
    catalogue = await hub.catalogue.get_fresh_if_missing(slug)
    tenant = catalogue.tenants.get(slug)
    if tenant is None or tenant.kind != "partner":
        raise Open311Error(404, f"jurisdiction_id {slug!r} is not a partner of this hub")
    return tenant


async def require_api_key(hub: Hub, params: Params, tenant: TenantInfo) -> None:
    key = first(params, "api_key")
    if key is None:
        raise Open311Error(403, "api_key is required to post a request")
    async with hub.sessionmaker() as session:
        if not await check_api_key(session, key, tenant=tenant.slug):
            raise Open311Error(403, f"api_key is not valid for {tenant.slug!r}")


def published(tenant: TenantInfo) -> list[ServiceInfo]:
    """The services a partner offers to Open311 clients, in catalogue order."""
    return [s for s in tenant.services.values() if s.spec is None or s.spec.open311]


def find_service(tenant: TenantInfo, code: str) -> ServiceInfo:
    service = tenant.services.get(code)
    if service is None or (service.spec is not None and not service.spec.open311):
        raise Open311Error(404, f"{tenant.slug!r} has no service {code!r}")
    return service


# -- discovery and services ------------------------------------------------------------------------------


def discovery(base_url: str, tenant: TenantInfo | None) -> dict[str, Any]:
    contact = (tenant.settings.get("contact") if tenant else "") or "The shared contact centre"
    return {
        "changeset": CHANGESET,
        "contact": contact,
        "key_service": "Ask the partner council (or the hub's operators) for an api_key: hub tenants api-key",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def service_list(tenant: TenantInfo) -> list[dict[str, Any]]:
    out = []
    for service in published(tenant):
        spec = service.spec
        out.append(
            {
                "service_code": service.code,
                "service_name": service.name,
                "description": (spec.description if spec else "") or service.name,
                "metadata": bool(spec and spec.attributes),
                "type": "realtime",
                "keywords": ", ".join(spec.keywords) if spec else "",
                "group": spec.group if spec else "",
            }
        )
    return out


def service_definition(service: ServiceInfo) -> dict[str, Any]:
    attributes = []
    for order, attribute in enumerate(service.spec.attributes if service.spec else [], start=1):
        item: dict[str, Any] = {
            "variable": attribute.variable,
            "code": attribute.code,
            "datatype": attribute.datatype,
            "required": attribute.required,
            "datatype_description": attribute.datatype_description,
            "order": order,
            "description": attribute.description,
        }
        if attribute.values:
            item["values"] = [{"key": v.key, "name": v.name} for v in attribute.values]
        attributes.append(item)
    return {"service_code": service.code, "attributes": attributes}


# -- posting a request -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    service_request_id: str
    service_notice: str


def _attributes(params: Params) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, values in params.items():
        match = _ATTRIBUTE.match(name)
        if match:
            found.setdefault(match.group(1), []).extend(v for v in values if v.strip())
    return found


def _float(params: Params, name: str, low: float, high: float) -> float | None:
    value = first(params, name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number (WGS84 decimal degrees)") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise Open311Error(400, f"{name} must be between {low:g} and {high:g}")
    return number


def _location(params: Params) -> dict[str, Any]:
    lat, long = _float(params, "lat", -90, 90), _float(params, "long", -180, 180)
    if (lat is None) != (long is None):
        raise Open311Error(400, "lat and long must be given together")
    address = first(params, "address_string")
    address_id = first(params, "address_id")
    if lat is None and address is None and address_id is None:
        raise Open311Error(400, "location is required: give lat and long, address_string or address_id")
    for name, value, limit in (("address_string", address, 500), ("address_id", address_id, 100)):
        if value is not None and len(value) > limit:
            raise Open311Error(400, f"{name} is longer than {limit} characters")
    location: dict[str, Any] = {"lat": lat, "long": long, "address": address, "address_id": address_id}
    zipcode = first(params, "zipcode")
    if zipcode is not None:
        location["zipcode"] = zipcode[:20]
    return {k: v for k, v in location.items() if v is not None}


def _customer(params: Params) -> dict[str, str]:
    name = " ".join(p for p in (first(params, "first_name"), first(params, "last_name")) if p)
    customer = {
        "name": name[:200],
        "email": first(params, "email") or "",
        "phone": first(params, "phone") or "",
    }
    if customer["email"] and ("@" not in customer["email"] or len(customer["email"]) > 254):
        raise Open311Error(400, "email is not an email address")
    if len(customer["phone"]) > 40:
        raise Open311Error(400, "phone is longer than 40 characters")
    return {k: v for k, v in customer.items() if v}


def validate_post(tenant: TenantInfo, params: Params) -> tuple[ServiceInfo, dict[str, Any]]:
    """Check a POST completely before anything is stored; the enquiry body for intake if it passes."""
    code = first(params, "service_code")
    if code is None:
        raise Open311Error(400, "service_code is required")
    service = tenant.services.get(code)
    if service is None or (service.spec is not None and not service.spec.open311):
        raise Open311Error(400, f"service_code {code!r} is not a service of {tenant.slug!r}")
    location = _location(params)
    description = first(params, "description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise Open311Error(
            400, f"description is longer than {MAX_DESCRIPTION} characters ({len(description)})"
        )
    media_url = first(params, "media_url")
    if media_url is not None and not safe_http_url(media_url):
        raise Open311Error(
            400,
            "media_url must be an http(s) address of at most 2000 characters, with a host, without spaces, "
            "quotes or angle brackets",
        )
    given = _attributes(params)
    attributes: dict[str, Any] = {}
    if service.spec is not None:
        # A multivaluelist arrives as repeated fields; anything else as one value.
        by_code = {a.code: a for a in service.spec.attributes}
        flat = {
            k: (v if (k in by_code and by_code[k].datatype == "multivaluelist") else (v[0] if v else None))
            for k, v in given.items()
        }
        attributes, problem = check_attributes(service.spec.attributes, flat)
        if problem is not None:
            separator = " " if problem.kind == "missing" else ": "
            raise Open311Error(400, f"attribute[{problem.code}]{separator}{problem.reason}")
    body: dict[str, Any] = {
        "tenant": tenant.slug,
        "channel": "web",
        "service_code": service.code,
        "text": description,
        "customer": _customer(params),
        "attributes": attributes,
        "location": location,
        "media_url": media_url,
    }
    return service, {k: v for k, v in body.items() if v is not None}


def retry_message_ids(tenant: str, params: Params, now: datetime, window_seconds: int) -> tuple[str, str]:
    """The intake message ids a POST gets in this window and the one before: a client's retry is one request.

    The id is a digest of the partner, the api_key and every field as sent (the client's own reference among them,
    e.g. ``attribute[fixmystreet_id]``), and of the window of ``window_seconds`` the POST falls in; a retry that
    crosses into the next window finds the request under the previous window's id.
    """
    fields = sorted((k, v) for k, values in params.items() for v in values)
    digest = hashlib.sha256(json.dumps([tenant, fields]).encode()).hexdigest()[:40]
    bucket = int(now.timestamp()) // window_seconds
    return f"{OPEN311_MESSAGE_PREFIX}{digest}-{bucket}", f"{OPEN311_MESSAGE_PREFIX}{digest}-{bucket - 1}"


async def _retried(hub: Hub, tenant: TenantInfo, message_ids: tuple[str, str], since: datetime) -> str | None:
    async with hub.sessionmaker() as session:
        found = await session.scalar(
            select(Enquiry.reference)
            .where(
                Enquiry.tenant_slug == tenant.slug,
                Enquiry.message_id.in_(message_ids),
                Enquiry.created_at >= since,
            )
            .order_by(Enquiry.id)
            .limit(1)
        )
    return str(found) if found is not None else None


async def post_request(hub: Hub, tenant: TenantInfo, params: Params) -> Posted:
    service, body = validate_post(tenant, params)
    now = hub.dispatcher.clock()
    window = hub.settings.open311_retry_window_seconds
    message_id, previous = retry_message_ids(tenant.slug, params, now, window)
    # A client that retries (a timeout, a lost answer) gets the request it already made, not a second case.
    earlier = await _retried(hub, tenant, (message_id, previous), now - timedelta(seconds=window))
    if earlier is not None:
        return Posted(earlier, _notice(service))
    body["received_at"] = now.isoformat()
    message = IncomingMessage(
        routing_key=f"{tenant.slug}.web",
        body=json.dumps(body).encode(),
        message_id=message_id,  # two retries at once: intake's (tenant, message_id) key makes them one
        content_type="application/json",
        type="enquiry.v1",
    )
    result = await hub.intake.process([message])
    outcome = result.outcomes[0]
    if outcome.reference is None:
        # Only a catalogue change between our check and intake's gets here; intake kept the rejection.
        raise Open311Error(400, outcome.detail or f"the request was refused ({outcome.code})")
    return Posted(outcome.reference, _notice(service))


def _notice(service: ServiceInfo) -> str:
    spec = service.spec
    if spec is None:
        return ""
    if spec.service_notice:
        return spec.service_notice
    if spec.resolution_working_days:
        return f"We aim to deal with this within {spec.resolution_working_days} working days."
    return ""


# -- reading requests back -------------------------------------------------------------------------------


def _service_document(document: dict[str, Any] | None, code: str) -> dict[str, Any] | None:
    for service in (document or {}).get("services") or []:
        if service.get("code") == code:
            return dict(service)
    return None


_HUB_NOTES = {
    "waiting": "Received; waiting for an adviser.",
    "with_adviser": "An adviser is dealing with it.",
    "withdrawn": "Withdrawn before it was answered.",
    "closed": "Closed; no further action needed.",
    # the hub's own statuses after a wrap-up are spelled as the outcomes they come from
    **{outcome: note for outcome, note in _OUTCOME_NOTES.items() if outcome != "no_action"},
}


def _status_notes(state: CaseState) -> str:
    """Public wording of the one status (backoffice.status decides it; this only words it)."""
    if state.by_back_office:
        return f"{state.label}."
    return _HUB_NOTES.get(state.status, f"{state.label}.")


def request_record(
    enquiry: Enquiry,
    tenant: TenantInfo,
    document: dict[str, Any] | None,
    updated_at: datetime | None,
    state: CaseState,
) -> dict[str, Any]:
    """One ``<request>``: public fields only (no customer name, email, phone or address of their own)."""
    spec = _service_document(document, enquiry.service_code)
    current = tenant.services.get(enquiry.service_code)
    name = (spec or {}).get("name") or (current.name if current else enquiry.service_code)
    expected = state.expected_at
    location = enquiry.location or {}
    notice = (spec or {}).get("service_notice") or ""
    record: dict[str, Any] = {
        "service_request_id": enquiry.reference,
        "status": "open" if state.is_open else "closed",
        "status_notes": _status_notes(state),
        "service_name": name,
        "service_code": enquiry.service_code,
        "description": (enquiry.text or "") if enquiry.message_id.startswith(OPEN311_MESSAGE_PREFIX) else "",
        "agency_responsible": tenant.name,
        "service_notice": notice,
        "requested_datetime": w3c(enquiry.received_at),
        "updated_datetime": w3c(updated_at or enquiry.created_at),
        "expected_datetime": w3c(expected) if expected else None,
        "address": location.get("address") or "",
        "address_id": location.get("address_id") or "",
        "zipcode": location.get("zipcode") or "",
        "lat": location.get("lat"),
        "long": location.get("long"),
        # Only a safe address is republished (one stored before the check, or by another path, is not).
        "media_url": enquiry.media_url if enquiry.media_url and safe_http_url(enquiry.media_url) else "",
    }
    if record["lat"] is None:
        del record["lat"], record["long"]
    if record["expected_datetime"] is None:
        del record["expected_datetime"]
    return record


async def _records(
    session: AsyncSession, tenant: TenantInfo, enquiries: list[Enquiry]
) -> list[dict[str, Any]]:
    if not enquiries:
        return []
    updated = dict(
        (
            await session.execute(
                select(EnquiryEvent.enquiry_id, func.max(EnquiryEvent.at))
                .where(EnquiryEvent.enquiry_id.in_([e.id for e in enquiries]))
                .group_by(EnquiryEvent.enquiry_id)
            )
        )
        .tuples()
        .all()
    )
    documents = await version_documents(
        session, {(e.tenant_slug, e.catalogue_version) for e in enquiries if e.catalogue_version is not None}
    )
    states = await case_states(session, enquiries)
    return [
        request_record(
            e,
            tenant,
            documents.get((e.tenant_slug, e.catalogue_version)) if e.catalogue_version is not None else None,
            updated.get(e.id),
            states[e.id],
        )
        for e in enquiries
    ]


async def get_request(hub: Hub, tenant: TenantInfo, reference: str) -> dict[str, Any]:
    async with hub.sessionmaker() as session:
        enquiry = await session.scalar(
            select(Enquiry).where(Enquiry.tenant_slug == tenant.slug, Enquiry.reference == reference.upper())
        )
        if enquiry is None:
            raise Open311Error(404, f"no request {reference!r} in {tenant.slug!r}")
        return (await _records(session, tenant, [enquiry]))[0]


async def get_requests(hub: Hub, tenant: TenantInfo, params: Params) -> list[dict[str, Any]]:
    ids = [i.upper() for i in _comma_list(params, "service_request_id")]
    codes = {s.code for s in published(tenant)}
    query = select(Enquiry).where(Enquiry.tenant_slug == tenant.slug, Enquiry.service_code.in_(codes))
    if ids:
        # The standard: with service_request_id, every other filter is ignored.
        query = query.where(Enquiry.reference.in_(ids[:MAX_REQUESTS]))
    else:
        start, end = _datetime_param(params, "start_date"), _datetime_param(params, "end_date")
        if start is None and end is None:
            start = hub.dispatcher.clock() - DEFAULT_WINDOW
        if start is not None and end is not None and end < start:
            raise Open311Error(400, "end_date is before start_date")
        if start is not None:
            query = query.where(Enquiry.received_at >= start)
        if end is not None:
            query = query.where(Enquiry.received_at <= end)
        wanted_codes = _comma_list(params, "service_code")
        if wanted_codes:
            query = query.where(Enquiry.service_code.in_(wanted_codes))
        statuses = {s.lower() for s in _comma_list(params, "status")}
        unknown = statuses - {"open", "closed"}
        if unknown:
            raise Open311Error(400, f"status must be open or closed, not {', '.join(sorted(unknown))}")
        if len(statuses) == 1:
            # open or closed is the status truth's (a back office's update can close a case the hub left
            # open), so it is filtered after deciding, not on the enquiry's own state
            wanted = statuses.pop()
            query = query.order_by(Enquiry.received_at.desc(), Enquiry.id.desc()).limit(MAX_REQUESTS * 4)
            async with hub.sessionmaker() as session:
                enquiries = list((await session.scalars(query)).all())
                records = await _records(session, tenant, enquiries)
            return [r for r in records if r["status"] == wanted][:MAX_REQUESTS]
    query = query.order_by(Enquiry.received_at.desc(), Enquiry.id.desc()).limit(MAX_REQUESTS)
    async with hub.sessionmaker() as session:
        enquiries = list((await session.scalars(query)).all())
        return await _records(session, tenant, enquiries)


async def get_token(hub: Hub, tenant: TenantInfo, token: str) -> dict[str, Any]:
    """A token is the ``message_id`` an enquiry was sent with; it leads to the public reference."""
    async with hub.sessionmaker() as session:
        reference = await session.scalar(
            select(Enquiry.reference).where(Enquiry.tenant_slug == tenant.slug, Enquiry.message_id == token)
        )
    if reference is None:
        raise Open311Error(404, f"no request for token {token!r} in {tenant.slug!r}")
    return {"service_request_id": reference, "token": token}


async def get_updates(hub: Hub, tenant: TenantInfo, params: Params) -> list[dict[str, Any]]:
    """mySociety's ``servicerequestupdates``: public status changes in [start_date, end_date]."""
    # By default up to now and the clock skew a back office's update may be ahead by (backoffice.updates): every
    # update the status already reflects is listed.
    end = _datetime_param(params, "end_date") or hub.dispatcher.clock() + timedelta(
        seconds=hub.settings.update_clock_skew_seconds
    )
    start = _datetime_param(params, "start_date") or end - UPDATES_WINDOW
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    codes = {s.code for s in published(tenant)}
    async with hub.sessionmaker() as session:
        rows = (
            await session.execute(
                select(EnquiryEvent, Enquiry.reference, Enquiry.outcome)
                .join(Enquiry, Enquiry.id == EnquiryEvent.enquiry_id)
                .where(
                    EnquiryEvent.tenant_slug == tenant.slug,
                    EnquiryEvent.event.in_(_PUBLIC_EVENTS),
                    EnquiryEvent.at >= start,
                    EnquiryEvent.at <= end,
                    Enquiry.service_code.in_(codes),
                )
                .order_by(EnquiryEvent.at, EnquiryEvent.id)
                .limit(MAX_REQUESTS)
            )
        ).all()
    updates = []
    for event, reference, outcome in rows:
        if event.event == EventName.COMPLETED:
            chosen = str(event.data.get("outcome") or outcome or "")
            status, note = _UPDATE_STATUS.get(chosen, "closed"), _OUTCOME_NOTES.get(chosen, "Closed.")
        elif event.event == EventName.CASE_UPDATED:
            case_status = str(event.data.get("status") or "")
            status, note = _CASE_UPDATE_STATUS.get(case_status, "open"), f"{status_label(case_status)}."
        elif event.event == EventName.ANSWERED:
            status, note = "in_progress", "An adviser is dealing with it."
        elif event.event == EventName.ABANDONED:
            status, note = "closed", "Withdrawn before it was answered."
        else:
            status, note = "open", "Received."
        updates.append(
            {
                "update_id": str(event.id),
                "service_request_id": reference,
                "status": status,
                "updated_datetime": w3c(event.at),
                "description": note,
                "media_url": "",
            }
        )
    return updates
