"""An agreement written, edited or ended in one runtime is in force in another running runtime within a second
(issue 18, item 8): two hubs on the same database, sharing nothing else in memory."""

from __future__ import annotations

import asyncio
import time

from hub.runtime import Hub
from plumbing.db.session import unit_of_work
from plumbing.settings import Settings
from routing.dispatch.eligibility import queues_for_agent
from routing.policy.model import Agreement
from tenants.agreements.service import delete_agreement
from tests.conftest import store_agreement


async def _seen(other: Hub, wanted: object, read: object) -> float:
    """Seconds until ``read(agreements in force in the other runtime)`` gives ``wanted`` (polled every 50 ms)."""
    began = time.monotonic()
    while read(await other.dispatcher.agreements.get()) != wanted:  # type: ignore[operator]
        assert time.monotonic() - began < 5, "the other runtime still has the old agreements"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def test_an_agreement_written_edited_and_ended_is_in_force_in_another_runtime_within_a_second(
    hub: Hub, settings: Settings, make_partner
) -> None:
    lender, borrower = await make_partner("prop-lender"), await make_partner("prop-borrower")
    agreement = f"{lender.slug}-lends"
    other = await Hub.start(settings, migrate=False)
    try:
        await other.catalogue.reload()
        await other.dispatcher.agreements.get()  # in use, and has just read its stamp

        def rate(terms: list[Agreement]) -> float | None:
            return next((a.unit_rate for a in terms if a.id == agreement), None)

        async def write(unit_rate: float) -> None:
            await store_agreement(
                hub,
                id=agreement,
                lender=lender.slug,
                borrower=borrower.slug,
                services=["missed-bin"],
                unit_rate=unit_rate,
            )

        await write(2.5)
        written = await _seen(other, 2.5, rate)
        # the other runtime's lender agent now also serves the borrower's missed-bin ring (live and text)
        catalogue = await other.catalogue.get()
        queues = queues_for_agent(catalogue, await other.dispatcher.agreements.get(), lender.slug, {"waste"})
        assert f"{borrower.slug}/missed-bin@{agreement}" in queues

        await write(4.0)
        edited = await _seen(other, 4.0, rate)
        async with unit_of_work(hub.sessionmaker) as session:
            assert await delete_agreement(session, agreement_id=agreement)
        ended = await _seen(other, None, rate)
        print(f"\nagreement seen by the other runtime after {written:.2f} s, {edited:.2f} s, {ended:.2f} s")
        # a stamp read every half second at most, and the reload, on a shared machine
        assert max(written, edited, ended) < 1.0, (written, edited, ended)
    finally:
        await other.close()
