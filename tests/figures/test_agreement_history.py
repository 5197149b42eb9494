"""An agreement edited or ended changes no past month: each contact is charged at the terms it was routed under."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from tenants.agreements.models import AgreementVersion
from tenants.agreements.service import delete_agreement, put_agreements
from tenants.agreements.terms import AgreementDefinition
from tenants.service import apply_definitions
from tenants.tokens import create_token
from tests.conftest import partner_definition, unique_slug
from tests.figures.test_figures_as_they_were import contact


async def _agreement(hub: Hub, agreement: str, lender: str, borrower: str, rate: float) -> None:
    async with unit_of_work(hub.sessionmaker) as session:
        await put_agreements(
            session,
            agreements=[
                AgreementDefinition.model_validate(
                    {"id": agreement, "lender": lender, "borrower": borrower, "unit_rate": rate}
                )
            ],
        )


async def test_an_agreement_edited_or_ended_leaves_past_ledgers_alone_and_applies_forward(
    hub: Hub, make_partner, api: httpx.AsyncClient
) -> None:
    borrower = await make_partner("ledger-borrower", agents=1)
    pool = unique_slug("ledger-pool")
    pool_agent = f"{pool}-agent0"
    async with unit_of_work(hub.sessionmaker) as session:
        await apply_definitions(session, definitions=[partner_definition(pool, [pool_agent], kind="pool")])
        committee = {"Authorization": f"Bearer {await create_token(session, role='committee')}"}
    agreement = f"{pool}-covers-{borrower.slug}"
    await _agreement(hub, agreement, pool, borrower.slug, 3.5)

    async def lent(queued: datetime) -> None:
        await contact(
            hub,
            borrower,
            queued=queued,
            answered_after=10,
            agent=pool_agent,
            handler=pool,
            agreement=agreement,
        )

    # One lent call in October (then published), two in November (left unpublished), all at £3.50.
    await lent(datetime(2026, 10, 20, 11, 0, tzinfo=UTC))
    await lent(datetime(2026, 11, 12, 9, 0, tzinfo=UTC))
    await lent(datetime(2026, 11, 12, 9, 30, tzinfo=UTC))

    async def recharge(slug: str, month: str) -> dict[str, float]:
        got = await api.get(f"/api/v1/tenants/{slug}/periods/{month}", headers=committee)
        assert got.status_code == 200, got.text
        return dict(got.json()["recharge"])

    async def ledger(slug: str, month: str) -> list[tuple[str, int, float, float]]:
        got = (await api.get(f"/api/v1/tenants/{slug}/periods/{month}", headers=committee)).json()
        return [(x["agreement"], x["handled"], x["unit_rate"], x["amount"]) for x in got["ledger"]]

    published = await api.post(f"/api/v1/tenants/{pool}/periods/2026-10/publish", headers=committee)
    assert published.status_code == 200
    assert await recharge(pool, "2026-10") == {"owes": 0.0, "owed": 3.5, "net": 3.5}  # 1 × £3.50
    assert await recharge(pool, "2026-11") == {"owes": 0.0, "owed": 7.0, "net": 7.0}  # 2 × £3.50

    # The rate goes up to £5.00 today: the past keeps £3.50, a call routed after the change is charged £5.00.
    await _agreement(hub, agreement, pool, borrower.slug, 5.0)
    assert await recharge(pool, "2026-10") == {"owes": 0.0, "owed": 3.5, "net": 3.5}
    assert await recharge(pool, "2026-11") == {"owes": 0.0, "owed": 7.0, "net": 7.0}  # not 2 × £5.00 = £10.00
    assert await recharge(borrower.slug, "2026-11") == {"owes": 7.0, "owed": 0.0, "net": -7.0}
    later = datetime.now(UTC) + timedelta(hours=1)  # the next whole slot after the change at the latest
    await lent(later)
    this_month = later.strftime("%Y-%m")
    assert await ledger(pool, this_month) == [(agreement, 1, 5.0, 5.0)]

    # The agreement ends: the work done under it is still owed at the terms it was done under.
    async with unit_of_work(hub.sessionmaker) as session:
        assert await delete_agreement(session, agreement_id=agreement)
    assert await ledger(pool, "2026-11") == [(agreement, 2, 3.5, 7.0)]
    assert await recharge(pool, "2026-10") == {"owes": 0.0, "owed": 3.5, "net": 3.5}


async def test_a_rate_changed_mid_month_prices_each_stretch_at_its_own_rate(hub: Hub, make_partner) -> None:
    from figures.periods import compute_period

    borrower = await make_partner("mid-borrower", agents=1)
    lender = await make_partner("mid-lender", agents=1)
    agreement = unique_slug("mid")
    await _agreement(hub, agreement, lender.slug, borrower.slug, 2.0)
    # Its history as if written over the autumn (the hub writes a version whenever an agreement is stored; here
    # they are dated in the past): £2.00 from 1 October, £3.00 from 10:07 on 16 November, applied by the ledger
    # from the next whole slot, 10:15. (The version stored just now, £2.00, applies from today on.)
    async with unit_of_work(hub.sessionmaker) as session:
        for rate, at in ((2.0, "2026-10-01T00:00:00Z"), (3.0, "2026-11-16T10:07:00Z")):
            definition = AgreementDefinition.model_validate(
                {"id": agreement, "lender": lender.slug, "borrower": borrower.slug, "unit_rate": rate}
            )
            session.add(
                AgreementVersion(
                    agreement_id=agreement,
                    lender_slug=lender.slug,
                    borrower_slug=borrower.slug,
                    definition=definition.model_dump(mode="json", by_alias=True),
                    valid_from=datetime.fromisoformat(at),
                )
            )
    for queued in ("2026-11-02T09:00", "2026-11-16T10:05", "2026-11-16T10:20", "2026-11-25T14:00"):
        await contact(
            hub,
            borrower,
            queued=datetime.fromisoformat(queued + ":00+00:00"),
            answered_after=10,
            agent=lender.agents[0],
            handler=lender.slug,
            agreement=agreement,
        )
    async with hub.sessionmaker() as session:
        november = await compute_period(session, tenant=borrower.slug, period="2026-11")
    # before 10:15: 2 calls × £2.00 = £4.00; from 10:15: 2 calls × £3.00 = £6.00; owed £10.00 in all
    assert [(x["handled"], x["unit_rate"], x["amount"]) for x in november.ledger] == [
        (2, 2.0, 4.0),
        (2, 3.0, 6.0),
    ]
    assert november.recharge == {"owes": 10.0, "owed": 0.0, "net": -10.0}
