"""Normalise what a partner sends about a person into keys that match across contacts (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NOT_DIGITS = re.compile(r"\D")


def normalise_phone(value: object) -> str | None:
    """UK numbers in national form: ``+44 1257 515151`` and ``01257-515151`` both give ``01257515151``."""
    if not isinstance(value, str):
        return None
    digits = _NOT_DIGITS.sub("", value)
    if digits.startswith("0044"):
        digits = "0" + digits[4:]
    elif digits.startswith("44") and value.strip().startswith("+"):
        digits = "0" + digits[2:]
    # Anything shorter is an extension or a typo, and would join strangers together.
    return digits if 9 <= len(digits) <= 15 else None


def normalise_email(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    return email if at and local and "." in domain and " " not in email and len(email) <= 254 else None


def normalise_uprn(value: object) -> str | None:
    """A Unique Property Reference Number: up to 12 digits, compared without leading zeros."""
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    digits = value.strip().lstrip("0")
    return digits if digits.isdigit() and len(digits) <= 12 else None


@dataclass(frozen=True)
class CustomerKeys:
    uprn: str | None
    phone: str | None
    email: str | None
    name: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.uprn or self.phone or self.email)

    def pairs(self) -> list[tuple[str, str]]:
        """(kind, value) in the order a match is trusted: a person's email, then phone, then the property."""
        return [(k, v) for k, v in (("email", self.email), ("phone", self.phone), ("uprn", self.uprn)) if v]


def keys_of(customer: Mapping[str, Any] | None) -> CustomerKeys:
    customer = customer or {}
    name = customer.get("name")
    return CustomerKeys(
        uprn=normalise_uprn(customer.get("uprn")),
        phone=normalise_phone(customer.get("phone")),
        email=normalise_email(customer.get("email")),
        name=name[:200] if isinstance(name, str) and name else None,
    )
