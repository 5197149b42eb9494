"""Link enquiries to customers (in batches, at intake) and gather a customer's history for the console."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.db.base import utcnow
from routing.customers.keys import CustomerKeys, keys_of
from routing.customers.models import Customer
from routing.models import Enquiry
from tenants.service import name_of, service_names

OPEN_STATES = ("queued", "offered", "answered")
# Until back-office status comes back (the adapters issue), these outcomes leave a case open.
OPEN_OUTCOMES = ("passed_to_back_office", "callback_booked")
HISTORY_LIMIT = 20


async def link_customers(
    session: AsyncSession, items: Sequence[tuple[str, Mapping[str, Any] | None]]
) -> list[int | None]:
    """The customer id for each (owner tenant, customer details); new people are created.

    Two statements whatever the batch size: one select to match, one insert for the people not yet known.
    A person is matched within their owner partner only, by email, then phone, then UPRN.
    """
    keyed = [(tenant, keys_of(customer)) for tenant, customer in items]
    wanted = [(tenant, keys) for tenant, keys in keyed if keys.any]
    if not wanted:
        return [None] * len(items)

    known: dict[tuple[str, str, str], int] = {}
    values: dict[str, set[str]] = {"email": set(), "phone": set(), "uprn": set()}
    for _tenant, keys in wanted:
        for kind, value in keys.pairs():
            values[kind].add(value)
    columns = {"email": Customer.email, "phone": Customer.phone, "uprn": Customer.uprn}
    conditions: list[ColumnElement[bool]] = [columns[k].in_(sorted(v)) for k, v in values.items() if v]
    rows = await session.execute(
        select(Customer.id, Customer.tenant_slug, Customer.email, Customer.phone, Customer.uprn)
        .where(Customer.tenant_slug.in_(sorted({t for t, _ in wanted})), or_(*conditions))
        .order_by(Customer.id)
    )
    for customer_id, tenant, email, phone, uprn in rows:
        for kind, held in (("email", email), ("phone", phone), ("uprn", uprn)):
            if held:
                known.setdefault((tenant, kind, held), customer_id)  # the oldest record wins

    # Each result is an existing id, or ("new", index into the rows to insert).
    results: list[int | tuple[str, int] | None] = []
    pending: dict[tuple[str, str, str], int] = {}
    new_rows: list[dict[str, Any]] = []
    for tenant, keys in keyed:
        if not keys.any:
            results.append(None)
            continue
        found = next((known[(tenant, k, v)] for k, v in keys.pairs() if (tenant, k, v) in known), None)
        if found is not None:
            results.append(found)
            continue
        index = next((pending[(tenant, k, v)] for k, v in keys.pairs() if (tenant, k, v) in pending), None)
        if index is None:
            index = len(new_rows)
            new_rows.append(_row(tenant, keys))
        for kind, value in keys.pairs():
            pending.setdefault((tenant, kind, value), index)
        results.append(("new", index))

    new_ids: list[int] = []
    if new_rows:
        new_ids = list(
            (
                await session.scalars(
                    # render_nulls: otherwise the ORM splits the rows by which keys are None, one INSERT each.
                    insert(Customer)
                    .execution_options(render_nulls=True)
                    .returning(Customer.id, sort_by_parameter_order=True),
                    new_rows,
                )
            ).all()
        )
    return [new_ids[r[1]] if isinstance(r, tuple) else r for r in results]


def _row(tenant: str, keys: CustomerKeys) -> dict[str, Any]:
    return {
        "tenant_slug": tenant,
        "name": keys.name,
        "uprn": keys.uprn,
        "phone": keys.phone,
        "email": keys.email,
        "created_at": utcnow(),
    }


@dataclass(frozen=True)
class PastContact:
    enquiry_id: int
    reference: str
    owner: str
    service_code: str
    channel: str
    state: str
    outcome: str | None
    received_at: datetime
    text: str | None
    attributes: dict[str, Any]
    # the service's name as the enquiry's own catalogue version gave it (a rename since does not rewrite it)
    service_name: str = ""

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES or self.outcome in OPEN_OUTCOMES


def same_person(customer: Customer) -> list[ColumnElement[bool]]:
    """How another record is matched to ``customer``: any key in common (email, phone, UPRN)."""
    conditions: list[ColumnElement[bool]] = []
    if customer.email:
        conditions.append(Customer.email == customer.email)
    if customer.phone:
        conditions.append(Customer.phone == customer.phone)
    if customer.uprn:
        conditions.append(Customer.uprn == customer.uprn)
    return conditions


async def related_customer_ids(session: AsyncSession, customer_id: int, tenants: set[str]) -> set[int]:
    """This customer and any record in ``tenants`` sharing a key with it (one hop, so a household's
    shared UPRN does not chain through to strangers)."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return set()
    conditions = same_person(customer)
    ids = {customer_id}
    if conditions:
        ids |= set(
            (
                await session.scalars(
                    select(Customer.id).where(Customer.tenant_slug.in_(sorted(tenants)), or_(*conditions))
                )
            ).all()
        )
    return ids


async def history(
    session: AsyncSession, *, customer_id: int, tenants: set[str], exclude_enquiry: int | None = None
) -> list[PastContact]:
    """The person's other contacts with ``tenants`` (the owner, plus partners that share with it), newest first."""
    ids = await related_customer_ids(session, customer_id, tenants)
    query = (
        select(Enquiry)
        .where(Enquiry.customer_id.in_(sorted(ids)), Enquiry.tenant_slug.in_(sorted(tenants)))
        .order_by(Enquiry.received_at.desc(), Enquiry.id.desc())
        .limit(HISTORY_LIMIT)
    )
    if exclude_enquiry is not None:
        query = query.where(Enquiry.id != exclude_enquiry)
    found = (await session.scalars(query)).all()
    names: dict[str, dict[tuple[int | None, str], str]] = {}
    for owner in sorted({e.tenant_slug for e in found}):
        versions = {e.catalogue_version for e in found if e.tenant_slug == owner}
        names[owner] = await service_names(session, tenant=owner, versions=versions)
    return [
        PastContact(
            e.id,
            e.reference,
            e.tenant_slug,
            e.service_code,
            e.channel,
            e.state,
            e.outcome,
            e.received_at,
            e.text,
            dict(e.attributes or {}),
            name_of(names[e.tenant_slug], e.catalogue_version, e.service_code),
        )
        for e in found
    ]
