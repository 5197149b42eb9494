"""Public references: short enough to read over the phone, unguessable enough to publish."""

from __future__ import annotations

import base64
import secrets
from functools import lru_cache

# Crockford's base32: no I, L, O or U, so nothing is misread as a digit or a word.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# base64's base32 alphabet (RFC 4648) mapped onto Crockford's, letter for letter: encoding is then done in C.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())


def new_reference(tenant: str) -> str:
    """``CHO-7K3M-9QX2-D4``: a tenant hint and 50 random bits."""
    # 56 random bits in one call; the first ten characters are the first 50 of them.
    body = base64.b32encode(secrets.token_bytes(7)).translate(_TO_CROCKFORD)[:10].decode()
    return f"{_prefix(tenant)}-{body[:4]}-{body[4:8]}-{body[8:]}"


@lru_cache(maxsize=1024)
def _prefix(tenant: str) -> str:
    return "".join(c for c in tenant.upper() if c.isalpha())[:3] or "HUB"
