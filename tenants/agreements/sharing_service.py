"""Store and read data-sharing agreements. Services flush; the caller's unit of work commits.

Every write is checked against the partners (in the database, plus any being loaded with it) and against the
data-sharing agreements already stored, so a bad one changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.db.base import utcnow
from tenants.agreements.models import DataSharingRow
from tenants.agreements.service import AgreementsInvalid
from tenants.agreements.sharing import DataSharingDefinition, check_data_sharing
from tenants.models import Tenant
from tenants.schemas import PartnerDefinition


async def readable_data_sharing(session: AsyncSession) -> list[DataSharingDefinition]:
    """Every stored data-sharing agreement the session may see that still validates (a bad row shares nothing)."""
    good = []
    for row in (await session.scalars(select(DataSharingRow).order_by(DataSharingRow.id))).all():
        try:
            good.append(DataSharingDefinition.model_validate(row.definition))
        except ValidationError:
            continue
    return good


async def put_data_sharing(
    session: AsyncSession,
    *,
    agreements: Sequence[DataSharingDefinition],
    partners: Sequence[PartnerDefinition] = (),
    labels: list[str] | None = None,
) -> None:
    """Create or replace each data-sharing agreement by id, after checking the whole resulting set."""
    stored = {a.id: a for a in await readable_data_sharing(session)}
    incoming = {a.id for a in agreements}
    ordered = list(agreements) + [a for i, a in stored.items() if i not in incoming]
    known = set((await session.scalars(select(Tenant.slug))).all()) | {d.tenant.slug for d in partners}
    problems = check_data_sharing(ordered, known, labels)
    if problems:
        raise AgreementsInvalid(problems)
    for agreement in agreements:
        row = await session.get(DataSharingRow, agreement.id)
        if row is None:
            row = DataSharingRow(id=agreement.id)
            session.add(row)
        row.parties = list(agreement.parties)
        row.definition = agreement.model_dump(mode="json")
        row.updated_at = utcnow()
    await session.flush()


async def delete_data_sharing(session: AsyncSession, *, agreement_id: str) -> bool:
    row = await session.get(DataSharingRow, agreement_id)
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True
