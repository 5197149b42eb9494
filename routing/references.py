"""Public references: short enough to read over the phone, unguessable enough to publish."""

from __future__ import annotations

import secrets

# Crockford's base32: no I, L, O or U, so nothing is misread as a digit or a word.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference(tenant: str) -> str:
    """``CHO-7K3M-9QX2-D4``: a tenant hint and 50 random bits."""
    prefix = "".join(c for c in tenant.upper() if c.isalpha())[:3] or "HUB"
    bits = secrets.randbits(50)  # one call to the system's randomness, not one per character
    body = "".join(_ALPHABET[(bits >> shift) & 31] for shift in range(0, 50, 5))
    return f"{prefix}-{body[:4]}-{body[4:8]}-{body[8:]}"
