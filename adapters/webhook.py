"""Signed webhook: POST the case as JSON, signed with HMAC-SHA256 over the timestamp and the body.

The header is ``X-Hub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``. A receiver checks the
signature and refuses a timestamp outside its replay window; ``verify_signature`` does both, and the hub uses
it for the status updates back offices post to it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

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

SIGNATURE_HEADER = "X-Hub-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_REPLAY_WINDOW_SECONDS = 300
# Worth another try: the receiver is busy, timed out, or asks us to slow down; any other 4xx is final.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


class SignatureError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: datetime) -> str:
    """The value of the signature header for ``body`` sent at ``now``."""
    timestamp = int(now.timestamp())
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: datetime,
    window_seconds: int = DEFAULT_REPLAY_WINDOW_SECONDS,
) -> None:
    """Raise ``SignatureError`` (code ``missing_signature``, ``bad_signature`` or ``stale_signature``)."""
    if not header:
        raise SignatureError("missing_signature", f"the {SIGNATURE_HEADER} header is required")
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        raise SignatureError(
            "bad_signature", f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex>"
        ) from None
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise SignatureError("bad_signature", "the signature does not match the body")
    # Checked after the signature, so the window is only ever reported to someone holding the secret.
    if abs(now.timestamp() - timestamp) > window_seconds:
        raise SignatureError(
            "stale_signature",
            f"signed {int(now.timestamp()) - timestamp} s ago; the window is {window_seconds} s",
        )


class WebhookConfig(AdapterConfig):
    url: HttpUrl
    secret: str = Field(min_length=16)
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Used to check status updates this back office posts back, if it signs them with another secret.
    update_secret: str | None = Field(default=None, min_length=16)


class WebhookAdapter(Adapter):
    name = "webhook"
    Config = WebhookConfig
    config: WebhookConfig

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        body = json.dumps(delivery.document(), separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: delivery.idempotency_key,
            SIGNATURE_HEADER: sign(self.config.secret, body, self.context.clock()),
        }
        try:
            response = await self.context.http.post(
                str(self.config.url), content=body, headers=headers, timeout=self.config.timeout_seconds
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {self.config.url}: {type(exc).__name__}: {exc}") from None
        if response.is_success:
            return DeliveryResult(external_ref=_external_ref(response))
        detail = f"webhook {self.config.url} answered {response.status_code}: {response.text[:200]}"
        if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_4XX:
            raise PermanentDeliveryError(detail)
        raise DeliveryError(detail)


def _external_ref(response: httpx.Response) -> str | None:
    """A receiver may answer ``{"id": ...}`` (or ``case_id``) with its own reference for the case."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        for key in ("case_id", "id"):
            if isinstance(body.get(key), str | int):
                return str(body[key])[:200]
    return None
