"""HTTP for back offices and supervisors.

- ``POST /api/v1/backoffice/{tenant}/services/{code}/updates``: a status update signed like our webhooks.
- ``POST /open311/v2/servicerequestupdates.{xml,json}``: the same in mySociety's Open311 dialect, with api_key.
- ``GET /api/v1/tenants/{tenant}/backoffice/deliveries`` and ``POST …/{id}/redrive``: parked deliveries.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from adapters.base import AdapterConfigError, resolve_env
from adapters.webhook import SIGNATURE_HEADER, SignatureError, verify_signature
from backoffice.models import PARKED, BackofficeDelivery
from backoffice.outbox import RedriveError, list_deliveries, redrive
from backoffice.updates import apply_update
from plumbing import georeport
from plumbing.auth.dependencies import require
from plumbing.auth.service import Principal, authenticate
from plumbing.db.base import MAX_ROW_ID
from plumbing.db.session import unit_of_work
from plumbing.problems import problem_of, problem_response
from routing.case_status import STATUSES, StatusUpdate, UpdateOutcome, normalise_status
from routing.queries import reference_of
from tenants.access import check_partner, may_read_partner
from tenants.queries import service_definition
from tenants.service import partner_or_404

router = APIRouter()


def _clock(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock else datetime.now(UTC)


# -- supervisors: parked deliveries -------------------------------------------------------------------


class DeliveryOut(BaseModel):
    id: int
    reference: str
    tenant: str
    service_code: str
    adapter: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    idempotency_key: str
    external_ref: str | None
    redriven: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    parked_at: datetime | None

    @classmethod
    def of(cls, row: BackofficeDelivery, reference: str) -> DeliveryOut:
        return cls(
            id=row.id,
            reference=reference,
            tenant=row.tenant_slug,
            service_code=row.service_code,
            adapter=row.adapter,
            kind=row.kind,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            idempotency_key=row.idempotency_key,
            external_ref=row.external_ref,
            redriven=row.redriven,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            parked_at=row.parked_at,
        )


Supervisor = Depends(require("supervisor"))


@router.get(
    "/api/v1/tenants/{tenant}/backoffice/deliveries",
    response_model=list[DeliveryOut],
    tags=["back office"],
    summary="A partner's back-office deliveries: parked ones by default, with their last error",
)
async def get_deliveries(
    tenant: str,
    request: Request,
    status: Literal["parked", "pending", "delivered"] = Query(default=PARKED),
    limit: int = Query(default=200, ge=1, le=1000),
    principal: Principal = Supervisor,
) -> list[DeliveryOut]:
    check_partner(principal, tenant)
    async with request.app.state.hub.sessionmaker() as session:
        await partner_or_404(session, tenant)
        rows = await list_deliveries(session, tenant=tenant, statuses=(status,), limit=limit)
    return [DeliveryOut.of(row, reference) for row, reference in rows]


@router.post(
    "/api/v1/tenants/{tenant}/backoffice/deliveries/{delivery_id}/redrive",
    response_model=DeliveryOut,
    tags=["back office"],
    summary="Send a parked delivery again, with a fresh set of tries",
)
async def post_redrive(
    tenant: str,
    delivery_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    request: Request,
    principal: Principal = Supervisor,
) -> DeliveryOut | JSONResponse:
    check_partner(principal, tenant)
    try:
        async with unit_of_work(request.app.state.hub.sessionmaker) as session:
            row = await redrive(session, delivery_id=delivery_id, tenant=tenant, now=_clock(request))
            reference = str(await reference_of(session, row.enquiry_id))
    except RedriveError as exc:
        return problem_of(exc)
    return DeliveryOut.of(row, reference)


# -- back offices: signed status updates --------------------------------------------------------------


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    update_id: str | None = Field(default=None, min_length=1, max_length=200)
    reference: str = Field(min_length=1, max_length=32)
    status: str = Field(min_length=1, max_length=40)
    notes: str | None = Field(default=None, max_length=4000)
    expected_date: date | None = None
    at: AwareDatetime


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return problem_response(status, code, detail)


def _update_secret(definition: dict[str, Any]) -> str | None:
    """``update_secret`` from the service's adapter config, or the webhook adapter's own ``secret``."""
    spec = definition.get("adapter") or {}
    config = spec.get("config") or {}
    raw = config.get("update_secret") or (config.get("secret") if spec.get("name") == "webhook" else None)
    if not isinstance(raw, str):
        return None
    return str(resolve_env({"update_secret": raw}, str(spec.get("name")))["update_secret"])


def _outcome_response(outcome: UpdateOutcome) -> JSONResponse:
    if outcome.result == "applied":
        return JSONResponse({"result": "applied", "reference": outcome.reference})
    if outcome.result == "duplicate":
        return JSONResponse({"result": "duplicate", "code": outcome.code, "reference": outcome.reference})
    status = {"unknown_reference": 404, "out_of_order_update": 409}.get(outcome.code or "", 422)
    return _error(status, outcome.code or "invalid_field", outcome.detail or "")


@router.post(
    "/api/v1/backoffice/{tenant}/services/{service_code}/updates",
    tags=["back office"],
    summary="A back office's status update for one case, signed with the service's secret",
    responses={401: {"description": "missing, bad or stale signature"}, 404: {}, 409: {}, 422: {}},
)
async def post_signed_update(tenant: str, service_code: str, request: Request) -> JSONResponse:
    hub = request.app.state.hub
    body = await request.body()
    async with hub.sessionmaker() as session:
        definition = await service_definition(session, tenant, service_code)
    if definition is None:
        return _error(404, "unknown_service", f"{tenant!r} has no service {service_code!r}")
    try:
        secret = _update_secret(definition)
    except AdapterConfigError as exc:
        return _error(503, "adapter_config", str(exc))
    if secret is None:
        return _error(
            403, "updates_not_enabled", f"service {service_code!r} has no update secret in its adapter config"
        )
    now = _clock(request)
    try:
        verify_signature(
            secret,
            request.headers.get(SIGNATURE_HEADER),
            body,
            now,
            window_seconds=hub.settings.update_replay_window_seconds,
        )
    except SignatureError as exc:
        return _error(401, exc.code, str(exc))
    try:
        update = WebhookUpdate.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        code = "missing_field" if first["type"] == "missing" else "invalid_field"
        return _error(422, code, f"field {field!r}: {first['msg']}")
    status = normalise_status(update.status)
    if status is None:
        return _error(422, "invalid_field", f"field 'status': must be one of {', '.join(STATUSES)}")
    # Without an update_id, the signed body is the identity: the same body replayed is a duplicate.
    source_id = update.update_id or "sha256:" + hashlib.sha256(body).hexdigest()
    async with unit_of_work(hub.sessionmaker) as session:
        outcome = await apply_update(
            session,
            StatusUpdate(
                tenant=tenant,
                source="webhook",
                source_id=source_id,
                status=status,
                at=update.at,
                reference=update.reference,
                notes=update.notes,
                expected_date=update.expected_date,
                service_code=service_code,
            ),
            now=now,
            max_skew=timedelta(seconds=hub.settings.update_clock_skew_seconds),
        )
    return _outcome_response(outcome)


# -- back offices: mySociety's Open311 servicerequestupdates ------------------------------------------


def _open311_error(fmt: str, status: int, description: str) -> Response:
    body, media_type = georeport.render(fmt, "errors", georeport.errors_document(status, [description]))
    return Response(body, status_code=status, media_type=media_type)


async def _params(request: Request) -> dict[str, str]:
    """Query string and form together (clients put api_key in either); empty values count as absent."""
    pairs = list(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        pairs += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    else:
        pairs += parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    out: dict[str, str] = {}
    for key, value in pairs:
        if value.strip():
            out.setdefault(key, value.strip())
    return out


def _aware(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@router.post("/open311/v2/servicerequestupdates", include_in_schema=False)
@router.post(
    "/open311/v2/servicerequestupdates.{fmt}",
    tags=["open311"],
    summary="mySociety's Open311 extension: a back office posts a status update for a service request",
)
async def post_servicerequestupdates(request: Request, fmt: str = "xml") -> Response:
    if fmt not in ("xml", "json"):
        return _open311_error("xml", 404, f"format must be xml or json, not {fmt!r}")
    hub = request.app.state.hub
    params = await _params(request)
    missing = [
        name
        for name in ("api_key", "service_request_id", "update_id", "status", "updated_datetime")
        if name not in params
    ]
    if missing:
        return _open311_error(fmt, 400, f"missing required parameter(s): {', '.join(missing)}")
    async with hub.sessionmaker() as session:
        principal = await authenticate(session, params["api_key"])
    jurisdiction = params.get("jurisdiction_id") or (principal.tenant if principal else None)
    # The partner's own Open311 api_key (role "open311", the one its clients post requests with) may post its
    # back office's updates too; so may a partner's or the hub's bearer token.
    if (
        principal is None
        or principal.role not in ("partner", "admin", "open311")
        or jurisdiction is None
        or not may_read_partner(principal, jurisdiction)
    ):
        return _open311_error(fmt, 403, "api_key is not valid for this jurisdiction_id")
    status = normalise_status(params["status"])
    if status is None:
        return _open311_error(fmt, 400, f"status {params['status']!r} is not one this hub knows")
    at = _aware(params["updated_datetime"])
    if at is None:
        return _open311_error(fmt, 400, "updated_datetime must be ISO 8601 with a time zone")
    expected: date | None = None
    if "expected_datetime" in params:
        expected_at = _aware(params["expected_datetime"])
        if expected_at is None:
            return _open311_error(fmt, 400, "expected_datetime must be ISO 8601 with a time zone")
        expected = expected_at.date()
    request_id = params["service_request_id"]
    async with unit_of_work(hub.sessionmaker) as session:
        outcome = await apply_update(
            session,
            StatusUpdate(
                tenant=jurisdiction,
                source="open311",
                source_id=params["update_id"],
                status=status,
                at=at,
                reference=request_id,
                external_ref=request_id,
                notes=params.get("description"),
                expected_date=expected,
            ),
            now=_clock(request),
            max_skew=timedelta(seconds=hub.settings.update_clock_skew_seconds),
        )
    if outcome.refused:
        code = 404 if outcome.code == "unknown_reference" else 400
        return _open311_error(fmt, code, f"{outcome.code}: {outcome.detail}")
    update_id = params["update_id"]
    body, media_type = georeport.render(fmt, "service_request_updates", [{"update_id": update_id}])
    return Response(body, media_type=media_type)
