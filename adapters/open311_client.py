"""Open311 GeoReport v2 client: POST the case to a back office's ``requests`` endpoint.

Sends ``api_key``, ``jurisdiction_id``, ``service_code``, ``description``, ``address_string``, the contact
fields and ``attribute[code]`` values as a form, and reads back ``service_request_id`` (or a ``token`` when the
server queues requests), in JSON or XML. Open311 has no idempotency key, so the key also goes in an
``Idempotency-Key`` header, and optionally as an attribute, for servers that can use it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
from pydantic import Field, HttpUrl

from adapters.base import (
    Adapter,
    AdapterConfig,
    Delivery,
    DeliveryError,
    DeliveryResult,
    PermanentDeliveryError,
)
from adapters.webhook import IDEMPOTENCY_HEADER, RETRYABLE_4XX


class Open311Config(AdapterConfig):
    endpoint: HttpUrl  # the base, e.g. https://council.example/open311/v2
    api_key: str = Field(min_length=1)
    jurisdiction_id: str | None = None
    service_code: str | None = None  # the back office's code; the hub's service code by default
    reference_attribute: str | None = None  # e.g. "hub_reference": send our reference as that attribute
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)


class Open311Adapter(Adapter):
    name = "open311"
    Config = Open311Config
    config: Open311Config

    def form(self, delivery: Delivery) -> list[tuple[str, str]]:
        case = delivery.payload
        customer: dict[str, Any] = case.get("customer") or {}
        description = "\n\n".join(
            part
            for part in (
                case.get("text"),
                case.get("notes"),
                f"Contact centre reference {delivery.reference}",
            )
            if part
        )
        fields: list[tuple[str, str]] = [
            ("api_key", self.config.api_key),
            ("service_code", self.config.service_code or delivery.service_code),
            ("description", description),
        ]
        if self.config.jurisdiction_id:
            fields.append(("jurisdiction_id", self.config.jurisdiction_id))
        first, _, last = (customer.get("name") or "").partition(" ")
        for key, value in (
            ("address_string", customer.get("address")),
            ("address_id", customer.get("uprn")),
            ("email", customer.get("email")),
            ("phone", customer.get("phone")),
            ("first_name", first),
            ("last_name", last),
        ):
            if value:
                fields.append((key, str(value)))
        for code, value in sorted((case.get("attributes") or {}).items()):
            for item in value if isinstance(value, list) else [value]:
                fields.append((f"attribute[{code}]", item if isinstance(item, str) else json.dumps(item)))
        if self.config.reference_attribute:
            fields.append((f"attribute[{self.config.reference_attribute}]", delivery.reference))
        return fields

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        url = str(self.config.endpoint).rstrip("/") + "/requests.json"
        try:
            response = await self.context.http.post(
                url,
                content=urlencode(self.form(delivery)),  # pairs: attribute[x] may repeat for a list
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    IDEMPOTENCY_HEADER: delivery.idempotency_key,
                    "Accept": "application/json",
                },
                timeout=self.config.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"open311 {url}: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            detail = f"open311 {url} answered {response.status_code}: {_errors(response)}"
            if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_4XX:
                raise PermanentDeliveryError(detail)
            raise DeliveryError(detail)
        ref = _request_id(response)
        if ref is None:
            raise PermanentDeliveryError(
                f"open311 {url} answered {response.status_code} without a service_request_id or token: "
                f"{response.text[:200]}"
            )
        return DeliveryResult(external_ref=ref)


def _request_id(response: httpx.Response) -> str | None:
    """``service_request_id``, or ``token:<token>`` when the server only queued the request."""
    found: dict[str, str] = {}
    text = response.text.strip()
    if text.startswith("<"):
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError:
            return None
        for tag in ("service_request_id", "token"):
            element = root.find(f".//{tag}")
            if element is not None and element.text and element.text.strip():
                found[tag] = element.text.strip()
    else:
        try:
            body = response.json()
        except ValueError:
            return None
        first = body[0] if isinstance(body, list) and body else body
        if isinstance(first, dict):
            for tag in ("service_request_id", "token"):
                if first.get(tag) not in (None, ""):
                    found[tag] = str(first[tag])
    if "service_request_id" in found:
        return found["service_request_id"][:200]
    if "token" in found:
        return f"token:{found['token']}"[:200]
    return None


def _errors(response: httpx.Response) -> str:
    """The standard's error list (``[{"code", "description"}]`` or ``<errors>``) as one line."""
    text = response.text.strip()
    try:
        if text.startswith("<"):
            root = ElementTree.fromstring(text)
            found = [e.findtext("description") or "" for e in root.iter("error")]
        else:
            body = response.json()
            found = [str(e.get("description", "")) for e in body if isinstance(e, dict)]
        if found:
            return "; ".join(found)[:300]
    except (ValueError, ElementTree.ParseError, TypeError, AttributeError):
        pass
    return text[:200]
