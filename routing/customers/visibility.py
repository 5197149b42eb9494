"""Data minimisation: which of a customer's fields an agent may see (DESIGN §8).

An owner's agents see everything the owner holds. An agent of another partner sees a customer only
while handling that customer's enquiry under an overflow agreement, and only the fields it allows.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

# "history" covers past contacts and the proactive prompts drawn from them.
CUSTOMER_FIELDS: frozenset[str] = frozenset(
    {"name", "phone", "email", "uprn", "address", "attributes", "history"}
)
# Until agreements say otherwise, a handler for another partner learns only whom they are speaking to.
MOST_RESTRICTIVE_DEFAULT: frozenset[str] = frozenset({"name"})


def visible_customer_fields(
    owner: str, handler: str, allowed_by_agreement: set[str] | frozenset[str] | None
) -> frozenset[str]:
    """The fields an agent of ``handler`` may see of a customer of ``owner``.

    ``allowed_by_agreement`` is None when no agreement covers the pair: then nothing at all.
    """
    if handler == owner:
        return CUSTOMER_FIELDS
    if allowed_by_agreement is None:
        return frozenset()
    return CUSTOMER_FIELDS & frozenset(allowed_by_agreement)


async def fields_allowed_by_agreement(
    session: AsyncSession, *, owner: str, handler: str, service_code: str
) -> frozenset[str] | None:
    """The seam to the overflow agreements (tenants/agreements.py, built in parallel).

    Until agreements exist on main this answers the most restrictive default (name only) for every
    cross-partner pair; it must then look up the agreement under which ``handler`` took ``owner``'s
    ``service_code`` work and return its allowed fields (or None when there is none).
    """
    del session, service_code  # used once agreements are stored
    if handler == owner:
        return None
    return MOST_RESTRICTIVE_DEFAULT


async def partners_sharing_history(session: AsyncSession, *, owner: str) -> set[str]:
    """Partners whose records of a person ``owner``'s agents may see beside the owner's own.

    The seam for data-sharing agreements: none exist yet, so a single view never crosses partners.
    """
    del session
    return {owner}
