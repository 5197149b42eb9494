"""Store and read agreements. Services flush; the caller's unit of work commits.

Every write is checked against the partners and services in the database (plus any being loaded with it)
and against the agreements already stored, so a bad one changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plumbing.db.base import utcnow
from plumbing.problems import Problem, document_refused
from tenants.agreements.models import AgreementRow, AgreementVersion
from tenants.agreements.terms import AgreementDefinition, AgreementProblem, check_agreements
from tenants.models import Service, Tenant
from tenants.schemas import PartnerDefinition


class AgreementsInvalid(Exception):
    def __init__(self, problems: list[AgreementProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in problems))

    def refusal(self) -> Problem:
        """The API's answer: 422 ``agreement_refused`` with every problem and where it is (nothing changed)."""
        return document_refused("agreement_refused", [(p.path, p.message) for p in self.problems])


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


async def put_one(
    session: AsyncSession, put: Callable[..., Awaitable[None]], body: _Identified, *, at: str
) -> None:
    """One agreement of either kind written at its own address ``at`` with ``put`` (``put_agreements`` or
    ``put_data_sharing``); refused as the API answers it, 422 ``agreement_refused``, with nothing changed."""
    if body.id != at:
        raise document_refused("agreement_refused", [("id", f"the body's id {body.id!r} is not {at!r}")])
    try:
        await put(session, agreements=[body], labels=["agreement"])
    except AgreementsInvalid as exc:
        raise exc.refusal() from None


def unknown_agreement(agreement_id: str, *, kind: str = "agreement") -> Problem:
    """The 404 for an agreement (or a data-sharing agreement) that is not there, or not the caller's to see."""
    return Problem(404, "not_found", f"no {kind} {agreement_id!r}")


async def known_services(
    session: AsyncSession, also: Sequence[PartnerDefinition] = ()
) -> dict[str, set[str]]:
    catalogue: dict[str, set[str]] = {t: set() for t in (await session.scalars(select(Tenant.slug))).all()}
    for tenant, code in (await session.execute(select(Service.tenant_slug, Service.code))).all():
        catalogue.setdefault(tenant, set()).add(code)
    for definition in also:
        catalogue.setdefault(definition.tenant.slug, set()).update(s.code for s in definition.services)
    return catalogue


@dataclass(frozen=True)
class SkippedAgreement:
    """A stored agreement that no longer reads as one (edited by hand, or from an older schema)."""

    id: str
    error: str


async def readable_agreements(
    session: AsyncSession,
) -> tuple[list[AgreementDefinition], list[SkippedAgreement]]:
    """Every stored agreement that validates, and the ones that do not, each with its first error.

    The router works from the first list: one bad row must not stop every partner's routing (it is reported:
    a log line where it is skipped and ``hub_agreements_invalid`` on /metrics).
    """
    good: list[AgreementDefinition] = []
    skipped: list[SkippedAgreement] = []
    for row in (await session.scalars(select(AgreementRow).order_by(AgreementRow.id))).all():
        try:
            good.append(AgreementDefinition.model_validate(row.definition))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "definition"
            skipped.append(SkippedAgreement(row.id, f"{where}: {first['msg']}"))
    return good, skipped


async def agreements_stamp(session: AsyncSession) -> tuple[int, datetime | None]:
    """Changes whenever an agreement is added, replaced or ended: polled to notice another process's write."""
    count, latest = (await session.execute(select(func.count(), func.max(AgreementRow.updated_at)))).one()
    return int(count), latest


async def list_agreements(session: AsyncSession) -> list[AgreementDefinition]:
    rows = (await session.scalars(select(AgreementRow).order_by(AgreementRow.id))).all()
    return [AgreementDefinition.model_validate(row.definition) for row in rows]


async def put_agreements(
    session: AsyncSession,
    *,
    agreements: Sequence[AgreementDefinition],
    partners: Sequence[PartnerDefinition] = (),
    labels: list[str] | None = None,
) -> None:
    """Create or replace each agreement by id, after checking the whole resulting set.

    ``labels`` name the incoming agreements in errors (``file.yaml: agreements[2]``).
    """
    # A stored agreement that no longer validates is left out of the check: writing it again is how it is mended.
    stored = {a.id: a for a in (await readable_agreements(session))[0]}
    merged = {**stored, **{a.id: a for a in agreements}}
    # Check the incoming ones first so that their paths are the ones in the error.
    ordered = list(agreements) + [a for i, a in merged.items() if i not in {x.id for x in agreements}]
    problems = check_agreements(ordered, await known_services(session, partners), labels)
    if problems:
        raise AgreementsInvalid(problems)
    now = utcnow()
    for agreement in agreements:
        row = await session.get(AgreementRow, agreement.id)
        if row is None:
            row = AgreementRow(id=agreement.id)
            session.add(row)
        definition = agreement.model_dump(mode="json", by_alias=True)
        if row.definition != definition or (row.lender_slug, row.borrower_slug) != (
            agreement.lender,
            agreement.borrower,
        ):
            # a new version from now: what was routed before keeps the terms it was routed under
            session.add(
                AgreementVersion(
                    agreement_id=agreement.id,
                    lender_slug=agreement.lender,
                    borrower_slug=agreement.borrower,
                    definition=definition,
                    valid_from=now,
                )
            )
        row.lender_slug, row.borrower_slug = agreement.lender, agreement.borrower
        row.definition = definition
        row.updated_at = now
    await session.flush()


async def delete_agreement(session: AsyncSession, *, agreement_id: str) -> bool:
    row = await session.get(AgreementRow, agreement_id)
    if row is None:
        return False
    session.add(  # ended from now; the work done under it keeps its terms
        AgreementVersion(
            agreement_id=row.id,
            lender_slug=row.lender_slug,
            borrower_slug=row.borrower_slug,
            definition=None,
            valid_from=utcnow(),
        )
    )
    await session.delete(row)
    await session.flush()
    return True


@dataclass(frozen=True)
class AgreementAsItWas:
    """An agreement as it stood at a moment: what it was called ("" when unnamed) and who lent to whom."""

    name: str
    lender: str
    borrower: str


async def agreements_as_of(session: AsyncSession, moment: datetime) -> dict[str, AgreementAsItWas]:
    """Every agreement ever stored, as it stood at ``moment``: its newest version written before then (before its
    first version, the first, as a month's ledger prices such work), so a past month's paper or an enquiry's trail
    keeps the name it had, and an agreement ended since is still named. An ending keeps the name it ended with."""
    found = {
        row.id: AgreementAsItWas(
            str((row.definition or {}).get("name") or ""), row.lender_slug, row.borrower_slug
        )
        for row in (
            await session.execute(
                select(
                    AgreementRow.id,
                    AgreementRow.lender_slug,
                    AgreementRow.borrower_slug,
                    AgreementRow.definition,
                )
            )
        ).all()
    }
    seen: set[str] = set()
    versions = await session.execute(
        select(
            AgreementVersion.agreement_id,
            AgreementVersion.lender_slug,
            AgreementVersion.borrower_slug,
            AgreementVersion.definition,
            AgreementVersion.valid_from,
        ).order_by(AgreementVersion.agreement_id, AgreementVersion.valid_from, AgreementVersion.id)
    )
    for agreement_id, lender, borrower, definition, valid_from in versions.tuples():
        if definition is None:
            continue  # an ending: the name it had stands
        if agreement_id not in seen or valid_from < moment:
            found[agreement_id] = AgreementAsItWas(str(definition.get("name") or ""), lender, borrower)
            seen.add(agreement_id)
    return found
