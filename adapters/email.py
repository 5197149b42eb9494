"""Email over SMTP: the case as a readable message with the JSON attached, for back offices run from a mailbox.

The Message-ID is made from the idempotency key, so a mail system (or a person) can spot a resend.
smtplib runs in a thread: it is blocking, and a case every few seconds does not need more.
"""

from __future__ import annotations

import asyncio
import json
import re
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, Literal

from pydantic import Field, field_validator

from adapters.base import (
    Adapter,
    AdapterConfig,
    Delivery,
    DeliveryError,
    DeliveryResult,
    PermanentDeliveryError,
)


class EmailConfig(AdapterConfig):
    host: str = Field(min_length=1)
    port: int = Field(default=25, gt=0, lt=65536)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = None
    from_address: str = Field(min_length=3, pattern=r".+@.+")
    to: list[str] = Field(min_length=1)
    subject_prefix: str = "[Contact centre]"
    timeout_seconds: float = Field(default=15.0, gt=0, le=60)

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class EmailAdapter(Adapter):
    name = "email"
    Config = EmailConfig
    config: EmailConfig

    def message(self, delivery: Delivery) -> EmailMessage:
        case = delivery.payload
        message = EmailMessage()
        message["From"] = self.config.from_address
        message["To"] = ", ".join(self.config.to)
        message["Subject"] = (
            f"{self.config.subject_prefix} {case.get('service_name', delivery.service_code)} ({delivery.reference})"
        ).strip()
        message["Message-ID"] = message_id(delivery.idempotency_key)
        message["X-Hub-Idempotency-Key"] = delivery.idempotency_key
        message["X-Hub-Reference"] = delivery.reference
        message.set_content(_readable(delivery))
        message.add_attachment(
            json.dumps(delivery.document(), indent=2, sort_keys=True).encode(),
            maintype="application",
            subtype="json",
            filename=f"{delivery.reference}.json",
        )
        return message

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        message = self.message(delivery)
        await asyncio.to_thread(self._send, message)
        return DeliveryResult()

    def _send(self, message: EmailMessage) -> None:
        config = self.config
        try:
            smtp: smtplib.SMTP
            if config.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    config.host,
                    config.port,
                    timeout=config.timeout_seconds,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
            with smtp:
                if config.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if config.username:
                    smtp.login(config.username, config.password or "")
                smtp.send_message(message)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError) as exc:
            raise PermanentDeliveryError(f"smtp {config.host}:{config.port}: {exc}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            error = f"smtp {config.host}:{config.port} refused the recipients: {exc.recipients}"
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(error) from None
            raise DeliveryError(error) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, ...
            error = f"smtp {config.host}:{config.port} answered {exc.smtp_code}: {exc.smtp_error!r}"
            if exc.smtp_code >= 500:
                raise PermanentDeliveryError(error) from None
            raise DeliveryError(error) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, disconnected, timed out
            raise DeliveryError(f"smtp {config.host}:{config.port}: {type(exc).__name__}: {exc}") from None


def message_id(idempotency_key: str) -> str:
    """A valid Message-ID (no colons in its left part) that is the same on every attempt."""
    return f"<{re.sub(r'[^A-Za-z0-9.!#$%&*+/=?^_`{{|}}~-]', '.', idempotency_key)}@contact-hub>"


def _readable(delivery: Delivery) -> str:
    case = delivery.payload
    customer: dict[str, Any] = case.get("customer") or {}
    lines = [
        f"Reference: {delivery.reference}",
        f"Council: {delivery.tenant}",
        f"Service: {case.get('service_name', '')} ({delivery.service_code})",
        f"Channel: {case.get('channel', '')}",
        f"Received: {case.get('received_at', '')}",
        f"Passed to you: {case.get('passed_at', '')}",
        "",
        "What the customer asked:",
        case.get("text") or "(no text)",
    ]
    if case.get("notes"):
        lines += ["", "Agent's notes:", case["notes"]]
    if customer:
        lines += ["", "Customer:"] + [f"  {k}: {v}" for k, v in sorted(customer.items())]
    if case.get("attributes"):
        lines += ["", "Details:"] + [f"  {k}: {v}" for k, v in sorted(case["attributes"].items())]
    lines += ["", f"Idempotency key: {delivery.idempotency_key}"]
    return "\n".join(lines) + "\n"
