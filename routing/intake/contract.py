"""Partner contract v1 (docs/design.md, "The partner contract"): parse and check one message, with no I/O beyond the catalogue given.

Every refusal carries a stable machine code (``x-hub-error``) and a sentence for people (``x-hub-error-detail``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from plumbing.bus.base import IncomingMessage
from routing.case_status import STATUSES, normalise_status
from tenants.attributes import check_attributes
from tenants.catalogue import Catalogue, ServiceInfo
from tenants.classify import Classification, classify

CHANNELS = ("phone", "web", "email", "face_to_face", "callback")
ENQUIRY_TYPE = "enquiry.v1"
WITHDRAWN_TYPE = "enquiry.withdrawn.v1"
UPDATE_TYPE = "enquiry.update.v1"  # a back office's status update, routing key <tenant>.update
UPDATE_KEY = "update"
GENERAL_SERVICE_CODE = "general"


class ErrorCode:
    """The stable codes partners can rely on; never rename one."""

    BAD_JSON = "bad_json"
    BAD_CONTENT_TYPE = "bad_content_type"
    MISSING_MESSAGE_ID = "missing_message_id"
    UNKNOWN_TYPE = "unknown_type"
    BAD_ROUTING_KEY = "bad_routing_key"
    UNKNOWN_TENANT = "unknown_tenant"
    TENANT_MISMATCH = "tenant_mismatch"
    CHANNEL_MISMATCH = "channel_mismatch"
    USER_MISMATCH = "user_mismatch"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_SERVICE = "unknown_service"
    UNCLASSIFIABLE = "unclassifiable"
    UNKNOWN_ENQUIRY = "unknown_enquiry"
    UNKNOWN_REFERENCE = "unknown_reference"
    OUT_OF_ORDER_UPDATE = "out_of_order_update"


@dataclass(frozen=True)
class Rejection:
    code: str
    detail: str


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Customer(_Body):
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    uprn: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=500)


class Call(_Body):
    call_id: str = Field(min_length=1, max_length=200)
    caller: str | None = Field(default=None, max_length=40)
    dialled: str | None = Field(default=None, max_length=40)


class Location(_Body):
    """Where the problem is (not the customer's own address): a point, an address, or both."""

    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)
    address_id: str | None = Field(default=None, max_length=100)
    zipcode: str | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _both_or_neither(self) -> Location:
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long go together")
        return self


class EnquiryBody(_Body):
    tenant: str = Field(min_length=1, max_length=63)
    channel: Literal["phone", "web", "email", "face_to_face", "callback"]
    received_at: AwareDatetime
    service_code: str | None = Field(default=None, min_length=1, max_length=63)
    text: str | None = Field(default=None, max_length=4000)
    priority: int | None = Field(default=None, ge=0, le=9, strict=True)
    customer: Customer = Field(default_factory=Customer)
    attributes: dict[str, Any] = Field(default_factory=dict)
    call: Call | None = None
    location: Location | None = None
    media_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")


class WithdrawnBody(_Body):
    tenant: str = Field(min_length=1, max_length=63)
    message_id: str = Field(min_length=1, max_length=200)
    reason: Literal["caller_hung_up", "cancelled"]
    at: AwareDatetime


class UpdateBody(_Body):
    tenant: str | None = Field(default=None, min_length=1, max_length=63)
    reference: str = Field(min_length=1, max_length=32)
    status: str = Field(min_length=1, max_length=40)
    notes: str | None = Field(default=None, max_length=4000)
    expected_date: date | None = None
    at: AwareDatetime


@dataclass(frozen=True)
class NewEnquiry:
    tenant: str
    message_id: str
    channel: str
    service: ServiceInfo
    priority: int
    received_at: datetime
    body: EnquiryBody
    correlation_id: str | None
    catalogue_version: int | None = None
    classification: Classification | None = None  # how a service was chosen from the text, if it was


@dataclass(frozen=True)
class Withdrawal:
    tenant: str
    message_id: str
    enquiry_message_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class CaseStatusUpdate:
    tenant: str
    message_id: str
    reference: str
    status: str  # normalised: received, in_progress, scheduled, resolved or closed
    notes: str | None
    expected_date: date | None
    at: datetime


Parsed = NewEnquiry | Withdrawal | CaseStatusUpdate | Rejection


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def claimed_tenant(routing_key: str) -> str | None:
    """The tenant a routing key names, if it has the ``<tenant>.<channel>`` shape at all."""
    parts = routing_key.split(".")
    return parts[0] if len(parts) == 2 and parts[0] else None


def _validation_rejection(exc: ValidationError) -> Rejection:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    if first["type"] == "missing":
        return Rejection(ErrorCode.MISSING_FIELD, f"required field {field!r} is missing")
    return Rejection(ErrorCode.INVALID_FIELD, f"field {field!r}: {first['msg']}")


def _parse_update(message_id: str, tenant: str, raw: dict[str, Any]) -> CaseStatusUpdate | Rejection:
    try:
        body = UpdateBody.model_validate(raw)
    except ValidationError as exc:
        return _validation_rejection(exc)
    status = normalise_status(body.status)
    if status is None:
        return Rejection(
            ErrorCode.INVALID_FIELD,
            f"field 'status': must be one of {', '.join(STATUSES)}, not {body.status!r}",
        )
    return CaseStatusUpdate(
        tenant, message_id, body.reference, status, body.notes, body.expected_date, body.at
    )


def parse(message: IncomingMessage, catalogue: Catalogue) -> Parsed:
    """Check one delivery against contract v1 and the catalogue; the first problem found is reported."""
    if not message.message_id:
        return Rejection(ErrorCode.MISSING_MESSAGE_ID, "the message_id property is required")
    if len(message.message_id) > 200 or "\x00" in message.message_id:
        return Rejection(ErrorCode.INVALID_FIELD, "message_id must be at most 200 characters, without NUL")
    if message.content_type not in (None, "", "application/json"):
        return Rejection(
            ErrorCode.BAD_CONTENT_TYPE, f"content_type must be application/json, not {message.content_type!r}"
        )
    if message.type not in (ENQUIRY_TYPE, WITHDRAWN_TYPE, UPDATE_TYPE):
        return Rejection(
            ErrorCode.UNKNOWN_TYPE,
            f"type must be {ENQUIRY_TYPE}, {WITHDRAWN_TYPE} or {UPDATE_TYPE}, not {message.type!r}",
        )

    parts = message.routing_key.split(".")
    if message.type == UPDATE_TYPE:
        if len(parts) != 2 or not parts[0] or parts[1] != UPDATE_KEY:
            return Rejection(
                ErrorCode.BAD_ROUTING_KEY,
                f"routing key of {UPDATE_TYPE} must be <tenant>.{UPDATE_KEY}; got {message.routing_key!r}",
            )
    elif len(parts) != 2 or not parts[0] or parts[1] not in CHANNELS:
        return Rejection(
            ErrorCode.BAD_ROUTING_KEY,
            f"routing key must be <tenant>.<channel> with channel one of {', '.join(CHANNELS)}; "
            f"got {message.routing_key!r}",
        )
    key_tenant, key_channel = parts
    tenant = catalogue.tenants.get(key_tenant)
    if tenant is None or tenant.kind != "partner":
        return Rejection(ErrorCode.UNKNOWN_TENANT, f"no partner {key_tenant!r} at this hub")
    if message.user_id and message.user_id != key_tenant:
        return Rejection(
            ErrorCode.USER_MISMATCH, f"broker user {message.user_id!r} may not publish for {key_tenant!r}"
        )

    try:
        raw = json.loads(message.body)
    except (UnicodeDecodeError, ValueError) as exc:
        return Rejection(ErrorCode.BAD_JSON, f"body is not valid JSON: {exc}")
    if not isinstance(raw, dict):
        return Rejection(ErrorCode.BAD_JSON, "body must be a JSON object")
    if _has_nul(raw):
        # PostgreSQL cannot store U+0000; refusing it here keeps one message from failing its whole batch.
        return Rejection(ErrorCode.INVALID_FIELD, "text must not contain NUL (\\u0000) characters")
    if "tenant" in raw and raw["tenant"] != key_tenant:
        return Rejection(
            ErrorCode.TENANT_MISMATCH,
            f"body tenant {raw['tenant']!r} does not match routing key {key_tenant!r}",
        )

    if message.type == UPDATE_TYPE:
        return _parse_update(message.message_id, key_tenant, raw)

    if message.type == WITHDRAWN_TYPE:
        try:
            withdrawn = WithdrawnBody.model_validate(raw)
        except ValidationError as exc:
            return _validation_rejection(exc)
        return Withdrawal(
            key_tenant, message.message_id, withdrawn.message_id, withdrawn.reason, withdrawn.at
        )

    if "channel" in raw and raw["channel"] != key_channel:
        return Rejection(
            ErrorCode.CHANNEL_MISMATCH,
            f"body channel {raw['channel']!r} does not match routing key {key_channel!r}",
        )
    try:
        body = EnquiryBody.model_validate(raw)
    except ValidationError as exc:
        return _validation_rejection(exc)
    if body.call is not None and body.channel != "phone":
        return Rejection(ErrorCode.INVALID_FIELD, "field 'call' is for the phone channel only")

    classification: Classification | None = None
    if body.service_code is not None:
        service = tenant.services.get(body.service_code)
        if service is None:
            return Rejection(
                ErrorCode.UNKNOWN_SERVICE, f"{key_tenant!r} has no service {body.service_code!r}"
            )
    elif body.text:
        classification = classify(
            body.text, list(tenant.services.values()), fallback_code=GENERAL_SERVICE_CODE
        )
        if classification is None:
            return Rejection(
                ErrorCode.UNCLASSIFIABLE,
                f"no service_code, no service matches the text, and {key_tenant!r} has no general "
                "enquiries service",
            )
        service = tenant.services[classification.service_code]
    else:
        return Rejection(ErrorCode.MISSING_FIELD, "required field 'service_code' is missing (or give 'text')")

    if service.spec is not None:
        # A service chosen from free text cannot expect the caller to have answered its questions.
        _, problem = check_attributes(
            service.spec.attributes, body.attributes, enforce_required=classification is None
        )
        if problem is not None:
            if problem.kind == "missing":
                return Rejection(
                    ErrorCode.MISSING_FIELD,
                    f"required field 'attributes.{problem.code}' is missing for service {service.code!r}",
                )
            return Rejection(ErrorCode.INVALID_FIELD, f"field 'attributes.{problem.code}': {problem.reason}")
    elif classification is None:
        for name in service.required_fields:
            if body.attributes.get(name) in (None, ""):
                return Rejection(
                    ErrorCode.MISSING_FIELD,
                    f"required field 'attributes.{name}' is missing for service {service.code!r}",
                )

    return NewEnquiry(
        tenant=key_tenant,
        message_id=message.message_id,
        channel=body.channel,
        service=service,
        priority=body.priority if body.priority is not None else service.priority,
        received_at=body.received_at,
        body=body,
        correlation_id=message.correlation_id,
        catalogue_version=tenant.catalogue_version,
        classification=classification,
    )
