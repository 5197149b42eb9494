"""Whether a partner is open for contacts now: the one place the dispatcher asks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tenants.catalogue import CatalogueCache
from tenants.hours import is_open

OpenNow = Callable[[str, str, datetime], bool]  # (tenant, channel, moment) -> open?


def always_open(tenant: str, channel: str, moment: datetime) -> bool:
    return True


def partner_hours(catalogue: CatalogueCache) -> OpenNow:
    """Each partner's opening hours per channel, bank holidays and closures (``tenants.hours``).

    Reads the catalogue snapshot already in memory: the routing decision stays free of I/O. A partner the
    snapshot does not know yet counts as open, so new work is never sent to voicemail by a stale cache.
    """

    def open_now(tenant: str, channel: str, moment: datetime) -> bool:
        info = catalogue.current.tenants.get(tenant)
        return True if info is None else is_open(info.hours, channel, moment)

    return open_now
