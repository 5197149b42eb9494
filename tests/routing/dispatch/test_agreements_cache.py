"""The agreements cache (routing/dispatch/router.py): a reload that read before a change never puts the old terms
back over a later reload's (seen in the suite under load: a waiting caller re-planned twice for one change)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.runtime import Hub
from routing.dispatch.router import AgreementsCache
from tests.conftest import store_agreement


class _Gate:
    """A sessionmaker whose next session, once its reads are done, waits for ``release`` before it closes."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.maker = maker
        self.hold_next = False
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    def __call__(self) -> _GatedSession:
        hold, self.hold_next = self.hold_next, False
        return _GatedSession(self.maker(), self if hold else None)


class _GatedSession:
    def __init__(self, session: AsyncSession, gate: _Gate | None) -> None:
        self.session, self.gate = session, gate

    async def __aenter__(self) -> AsyncSession:
        return await self.session.__aenter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.gate is not None:
            self.gate.held.set()
            await self.gate.release.wait()
        await self.session.__aexit__(kind, exc, tb)


async def test_a_reload_that_read_before_a_change_does_not_undo_a_later_one(
    hub: Hub, make_partner: Any
) -> None:
    lender, borrower = await make_partner("cache-lender"), await make_partner("cache-borrower")
    agreement = f"{lender.slug}-lends"
    gate = _Gate(hub.sessionmaker)
    # a sessionmaker in all but name
    cache = AgreementsCache(gate)  # type: ignore[arg-type]
    await cache.reload()  # in use: later reloads mark what changed

    gate.hold_next = True
    early = asyncio.create_task(cache.reload())  # reads the agreements as they are (none of this pair's) ...
    await gate.held.wait()  # ... and is held before it puts them in place

    await store_agreement(
        hub, id=agreement, lender=lender.slug, borrower=borrower.slug, services=["missed-bin"]
    )
    late = asyncio.create_task(cache.reload())  # the process's own reload after its write
    await asyncio.sleep(0.2)  # room for the late reload to finish first, were reloads not one at a time
    gate.release.set()
    await asyncio.gather(early, late)

    in_force = [a.id for a in await cache.get()]  # no stamp check yet: the terms as the reloads left them
    assert agreement in in_force
    assert cache.take_changed() == {borrower.slug}  # the borrower's waiters re-plan once
    assert cache.take_changed() == set()
