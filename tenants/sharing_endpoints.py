"""Data-sharing agreements over HTTP: a partner reads the ones it signed (/api/v1/data-sharing); the admin writes
them (/api/v1/admin/data-sharing). Refusals are problem documents."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from plumbing.auth.dependencies import current_principal, require
from plumbing.auth.service import Principal
from plumbing.db.session import unit_of_work
from tenants.access import may_read_data_sharing
from tenants.agreements.service import put_one, unknown_agreement
from tenants.agreements.sharing import DataSharingDefinition
from tenants.agreements.sharing_service import delete_data_sharing, put_data_sharing, readable_data_sharing

router = APIRouter(tags=["data sharing"])
AdminOnly = Depends(require("admin"))


@router.get(
    "/api/v1/data-sharing",
    response_model=list[DataSharingDefinition],
    summary="The data-sharing agreements the caller's partner signed (every one for a hub-wide caller)",
)
async def signed_agreements(
    request: Request, principal: Principal = Depends(current_principal)
) -> list[DataSharingDefinition]:
    async with request.app.state.hub.sessionmaker() as session:
        return [a for a in await readable_data_sharing(session) if may_read_data_sharing(principal, a)]


@router.get(
    "/api/v1/data-sharing/{agreement_id}",
    response_model=DataSharingDefinition,
    summary="One data-sharing agreement the caller's partner signed",
)
async def one_agreement(
    agreement_id: str, request: Request, principal: Principal = Depends(current_principal)
) -> DataSharingDefinition:
    async with request.app.state.hub.sessionmaker() as session:
        for agreement in await readable_data_sharing(session):
            if agreement.id == agreement_id and may_read_data_sharing(principal, agreement):
                return agreement
    raise unknown_agreement(agreement_id, kind="data-sharing agreement")


@router.put(
    "/api/v1/admin/data-sharing/{agreement_id}",
    response_model=DataSharingDefinition,
    summary="Create or replace a data-sharing agreement (checked against the partners and the other agreements)",
    responses={422: {"description": "the agreement is refused; nothing changed"}},
)
async def put_agreement(
    agreement_id: str, body: DataSharingDefinition, request: Request, _: Principal = AdminOnly
) -> DataSharingDefinition:
    async with unit_of_work(request.app.state.hub.sessionmaker) as session:
        await put_one(session, put_data_sharing, body, at=agreement_id)
    return body


@router.delete(
    "/api/v1/admin/data-sharing/{agreement_id}", status_code=204, summary="Remove a data-sharing agreement"
)
async def remove_agreement(agreement_id: str, request: Request, _: Principal = AdminOnly) -> Response:
    async with unit_of_work(request.app.state.hub.sessionmaker) as session:
        if not await delete_data_sharing(session, agreement_id=agreement_id):
            raise unknown_agreement(agreement_id, kind="data-sharing agreement")
    return Response(status_code=204)
