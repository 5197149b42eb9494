"""Data minimisation: which of a customer's fields an agent may see (docs/design.md, "Invariants").

An owner's agents see everything the owner holds. An agent of another partner sees a customer only
while handling that customer's enquiry under an overflow agreement, and only the fields it allows. Contacts with
another partner cross only under a data-sharing agreement, and only its agreed fields.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tenants.access import HistoryGrant, agreed_fields, shared_history_grants

# "history" covers past contacts and the proactive prompts drawn from them.
CUSTOMER_FIELDS: frozenset[str] = frozenset(
    {"name", "phone", "email", "uprn", "address", "attributes", "history"}
)


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
    session: AsyncSession, *, owner: str, handler: str, service_code: str, agreement_id: str | None
) -> frozenset[str] | None:
    """What the agreement under which ``handler`` took the enquiry lets its agents see (None: no agreement).

    Decided in one place, ``tenants.access.agreed_fields``.
    """
    return await agreed_fields(
        session, owner=owner, handler=handler, service_code=service_code, agreement_id=agreement_id
    )


async def partners_sharing_history(
    session: AsyncSession, *, owner: str, viewer: str, at: datetime
) -> list[HistoryGrant]:
    """The partners whose contacts with ``owner``'s customer an agent of ``viewer`` is shown, each under its
    data-sharing agreement (none: nothing crosses). Decided in one place, ``tenants.access.shared_history_grants``.
    """
    return await shared_history_grants(session, viewer=viewer, owner=owner, at=at)
