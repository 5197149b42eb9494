"""Partner contract v1 (docs/design.md, "The partner contract"): parse and check one message, with no I/O beyond the catalogue given.

Every refusal carries a stable machine code (``x-hub-error``) and a sentence for people (``x-hub-error-detail``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from plumbing.bus.base import IncomingMessage
from plumbing.georeport import safe_http_url
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
    FUTURE_DATED_UPDATE = "future_dated_update"
    # Malformed input refused before it reaches storage (limits: IntakeLimits, README "Partner contract v1").
    TOO_LARGE = "too_large"  # the body, the attributes or one string is over its limit
    TOO_DEEP = "too_deep"  # JSON nested deeper than the limit
    BAD_ENCODING = "bad_encoding"  # a property that is not UTF-8, or a string with a lone surrogate
    OUT_OF_RANGE = "out_of_range"  # a number beyond 64 bits or not finite, a date outside the accepted years
    UNPROCESSABLE = (
        "unprocessable"  # passed every check yet its batch could not store it: refused, not retried
    )


@dataclass(frozen=True)
class IntakeLimits:
    """What one message may carry; the defaults are documented in README, "Partner contract v1"."""

    max_message_bytes: int = 262_144
    max_attributes_bytes: int = 65_536
    max_depth: int = 16  # objects and arrays inside one another, the body itself counting 1
    max_string_chars: int = (
        10_000  # any one string or object key (named fields have their own, smaller limits)
    )
    earliest_year: int = 2000  # a date's year in UTC
    latest_year: int = 2100


DEFAULT_LIMITS = IntakeLimits()
_INT64 = (-(2**63), 2**63 - 1)
_PROPERTIES = ("routing_key", "message_id", "type", "content_type", "user_id", "correlation_id")


@dataclass(frozen=True)
class Rejection:
    code: str
    detail: str


def _date_time_text(value: Any) -> Any:
    """A date-time must be ISO 8601 text: pydantic would otherwise read a number as seconds since 1970."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time with an offset, as text")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]


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
    received_at: Instant
    service_code: str | None = Field(default=None, min_length=1, max_length=63)
    text: str | None = Field(default=None, max_length=4000)
    priority: int | None = Field(default=None, ge=0, le=9, strict=True)
    customer: Customer = Field(default_factory=Customer)
    attributes: dict[str, Any] = Field(default_factory=dict)
    call: Call | None = None
    location: Location | None = None
    media_url: str | None = Field(default=None, max_length=2000)

    @field_validator("media_url")
    @classmethod
    def _safe_url(cls, value: str | None) -> str | None:
        if value is not None and not safe_http_url(value):
            raise ValueError(
                "must be an http(s) address with a host, without spaces, quotes or angle brackets"
            )
        return value


class WithdrawnBody(_Body):
    tenant: str = Field(min_length=1, max_length=63)
    message_id: str = Field(min_length=1, max_length=200)
    reason: Literal["caller_hung_up", "cancelled"]
    at: Instant


class UpdateBody(_Body):
    tenant: str | None = Field(default=None, min_length=1, max_length=63)
    reference: str = Field(min_length=1, max_length=32)
    status: str = Field(min_length=1, max_length=40)
    notes: str | None = Field(default=None, max_length=4000)
    expected_date: date | None = None
    at: Instant


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


def _string_problem(value: str, where: str, limits: IntakeLimits) -> Rejection | None:
    if len(value) > limits.max_string_chars:
        return Rejection(
            ErrorCode.TOO_LARGE,
            f"{where}: a string of {len(value)} characters (limit {limits.max_string_chars})",
        )
    if "\x00" in value:
        # PostgreSQL cannot store U+0000; refusing it here keeps one message from failing its whole batch.
        return Rejection(ErrorCode.INVALID_FIELD, "text must not contain NUL (\\u0000) characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return Rejection(ErrorCode.BAD_ENCODING, f"{where}: a string with a lone surrogate (not UTF-8)")
    return None


def _tree_problem(raw: Any, limits: IntakeLimits) -> Rejection | None:
    """Walk the parsed body once, without recursion: depth, string sizes and encoding, numbers storable."""
    stack: list[tuple[Any, int, str]] = [(raw, 1, "body")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, dict | list):
            if depth > limits.max_depth:
                return Rejection(ErrorCode.TOO_DEEP, f"{where}: nested deeper than {limits.max_depth} levels")
            if isinstance(value, dict):
                for key, child in value.items():
                    if (problem := _string_problem(key, f"{where}: a key", limits)) is not None:
                        return problem
                    stack.append((child, depth + 1, f"{where}.{key[:40]}"))
            else:
                stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(value))
        elif isinstance(value, str):
            if (problem := _string_problem(value, where, limits)) is not None:
                return problem
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not _INT64[0] <= value <= _INT64[1]:
                return Rejection(ErrorCode.OUT_OF_RANGE, f"{where}: an integer beyond 64 bits")
        elif isinstance(value, float) and not math.isfinite(value):
            return Rejection(ErrorCode.OUT_OF_RANGE, f"{where}: a number that is not finite")
    return None


class _NonFinite(ValueError):
    """NaN, Infinity or -Infinity in the body: not JSON (RFC 8259), and no column can keep them."""


def _refuse_constant(name: str) -> float:
    raise _NonFinite(name)


def _property_problem(message: IncomingMessage) -> Rejection | None:
    """Properties as the broker gave them: ``incoming`` names those that were not UTF-8."""
    if message.undecodable:
        return Rejection(
            ErrorCode.BAD_ENCODING, f"not UTF-8: the {', '.join(message.undecodable)} of the message"
        )
    for name in _PROPERTIES:
        value = getattr(message, name)
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return Rejection(ErrorCode.BAD_ENCODING, f"not UTF-8: the {name} of the message")
    return None


def _date_problem(field: str, at: datetime, limits: IntakeLimits) -> Rejection | None:
    try:
        year = at.astimezone(UTC).year
    except OverflowError:  # year 1 or 9999 with an offset that takes it outside the calendar
        year = 0
    if not limits.earliest_year <= year <= limits.latest_year:
        return Rejection(
            ErrorCode.OUT_OF_RANGE,
            f"field {field!r}: must fall in the years {limits.earliest_year}-{limits.latest_year} (UTC)",
        )
    return None


def _attributes_problem(raw: dict[str, Any], body_bytes: int, limits: IntakeLimits) -> Rejection | None:
    attributes = raw.get("attributes")
    if body_bytes <= limits.max_attributes_bytes or not isinstance(attributes, dict | list):
        return None  # the attributes cannot be larger than the body that carries them
    size = len(json.dumps(attributes, ensure_ascii=False).encode())
    if size > limits.max_attributes_bytes:
        return Rejection(
            ErrorCode.TOO_LARGE, f"field 'attributes': {size} bytes (limit {limits.max_attributes_bytes})"
        )
    return None


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


def _parse_update(
    message_id: str, tenant: str, raw: dict[str, Any], limits: IntakeLimits
) -> CaseStatusUpdate | Rejection:
    try:
        body = UpdateBody.model_validate(raw)
    except ValidationError as exc:
        return _validation_rejection(exc)
    if (problem := _date_problem("at", body.at, limits)) is not None:
        return problem
    status = normalise_status(body.status)
    if status is None:
        return Rejection(
            ErrorCode.INVALID_FIELD,
            f"field 'status': must be one of {', '.join(STATUSES)}, not {body.status!r}",
        )
    return CaseStatusUpdate(
        tenant, message_id, body.reference, status, body.notes, body.expected_date, body.at
    )


def parse(message: IncomingMessage, catalogue: Catalogue, limits: IntakeLimits = DEFAULT_LIMITS) -> Parsed:
    """Check one delivery against contract v1 and the catalogue; the first problem found is reported.

    Never raises: whatever a partner sends ends as a value, a refusal with its code at the latest.
    """
    if (problem := _property_problem(message)) is not None:
        return problem
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

    if len(message.body) > limits.max_message_bytes:
        return Rejection(
            ErrorCode.TOO_LARGE, f"body of {len(message.body)} bytes (limit {limits.max_message_bytes})"
        )
    try:
        raw = json.loads(message.body, parse_constant=_refuse_constant)
    except RecursionError:
        return Rejection(ErrorCode.TOO_DEEP, f"body nested deeper than {limits.max_depth} levels")
    except _NonFinite as exc:
        return Rejection(ErrorCode.OUT_OF_RANGE, f"body holds {exc}, which is not a finite number")
    except (UnicodeDecodeError, ValueError) as exc:
        return Rejection(ErrorCode.BAD_JSON, f"body is not valid JSON: {str(exc)[:200]}")
    if not isinstance(raw, dict):
        return Rejection(ErrorCode.BAD_JSON, "body must be a JSON object")
    problem = _tree_problem(raw, limits) or _attributes_problem(raw, len(message.body), limits)
    if problem is not None:
        return problem
    if "tenant" in raw and raw["tenant"] != key_tenant:
        return Rejection(
            ErrorCode.TENANT_MISMATCH,
            f"body tenant {raw['tenant']!r} does not match routing key {key_tenant!r}",
        )

    if message.type == UPDATE_TYPE:
        return _parse_update(message.message_id, key_tenant, raw, limits)

    if message.type == WITHDRAWN_TYPE:
        try:
            withdrawn = WithdrawnBody.model_validate(raw)
        except ValidationError as exc:
            return _validation_rejection(exc)
        if (problem := _date_problem("at", withdrawn.at, limits)) is not None:
            return problem
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
    if (problem := _date_problem("received_at", body.received_at, limits)) is not None:
        return problem
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
        _, attribute_problem = check_attributes(
            service.spec.attributes, body.attributes, enforce_required=classification is None
        )
        if attribute_problem is not None:
            if attribute_problem.kind == "missing":
                return Rejection(
                    ErrorCode.MISSING_FIELD,
                    f"required field 'attributes.{attribute_problem.code}' is missing for service {service.code!r}",
                )
            return Rejection(
                ErrorCode.INVALID_FIELD,
                f"field 'attributes.{attribute_problem.code}': {attribute_problem.reason}",
            )
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
