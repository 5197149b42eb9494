"""Admin API for overflow agreements: /api/v1/admin/agreements (admin role only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from plumbing.auth.dependencies import require
from plumbing.auth.service import Principal
from plumbing.db.session import unit_of_work
from tenants.agreements.service import (
    delete_agreement,
    list_agreements,
    put_agreements,
    put_one,
    unknown_agreement,
)
from tenants.agreements.terms import AgreementDefinition

router = APIRouter(prefix="/api/v1/admin/agreements", tags=["agreements"])
AdminOnly = Depends(require("admin"))


async def _changed(request: Request) -> None:
    """The dispatcher in this process sees the change at once; others within their cache's age (30 s)."""
    await request.app.state.hub.dispatcher.agreements.reload()


@router.get("", response_model=list[AgreementDefinition], summary="Every agreement")
async def all_agreements(request: Request, _: Principal = AdminOnly) -> list[AgreementDefinition]:
    async with request.app.state.hub.sessionmaker() as session:
        return await list_agreements(session)


@router.get("/{agreement_id}", response_model=AgreementDefinition, summary="One agreement")
async def one_agreement(agreement_id: str, request: Request, _: Principal = AdminOnly) -> AgreementDefinition:
    async with request.app.state.hub.sessionmaker() as session:
        for agreement in await list_agreements(session):
            if agreement.id == agreement_id:
                return agreement
    raise unknown_agreement(agreement_id)


@router.put(
    "/{agreement_id}",
    response_model=AgreementDefinition,
    summary="Create or replace an agreement (checked against partners, services and the other agreements)",
    responses={422: {"description": "the agreement is refused; nothing changed"}},
)
async def put_agreement(
    agreement_id: str, body: AgreementDefinition, request: Request, _: Principal = AdminOnly
) -> AgreementDefinition:
    async with unit_of_work(request.app.state.hub.sessionmaker) as session:
        await put_one(session, put_agreements, body, at=agreement_id)
    await _changed(request)
    return body


@router.delete("/{agreement_id}", status_code=204, summary="End an agreement")
async def end_agreement(agreement_id: str, request: Request, _: Principal = AdminOnly) -> Response:
    async with unit_of_work(request.app.state.hub.sessionmaker) as session:
        if not await delete_agreement(session, agreement_id=agreement_id):
            raise unknown_agreement(agreement_id)
    await _changed(request)
    return Response(status_code=204)
