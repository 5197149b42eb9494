"""Whether a partner is open for contacts now: the one place the dispatcher asks.

Opening hours arrive with issue 3 (``tenants.hours.is_open(hours, channel, moment)``); until then every partner
is open. Swap ``always_open`` for a function over the partners' hours here, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

OpenNow = Callable[[str, str, datetime], bool]  # (tenant, channel, moment) -> open?


def always_open(tenant: str, channel: str, moment: datetime) -> bool:
    return True
