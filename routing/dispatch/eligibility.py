"""Which live queues an agent may take work from: its own partner's, and lenders' rings under agreements."""

from __future__ import annotations

from collections.abc import Iterable

from routing.live.base import queue_name
from routing.policy.model import TEXT_CHANNELS, VOICE_CHANNELS, Agreement
from tenants.catalogue import Catalogue


def queues_for_agent(
    catalogue: Catalogue, agreements: Iterable[Agreement], tenant: str, skills: set[str] | frozenset[str]
) -> list[str]:
    """Own services the agent has every skill for (live and text queues), then each ring it may serve.

    A ring is listed whether or not its gate is open now: the live state checks the gate and the caps at the
    moment of the match, so an agent need not be told when a ring opens.
    """
    queues: list[str] = []
    own = catalogue.tenants.get(tenant)
    if own is not None:
        for service in sorted(own.services.values(), key=lambda s: s.code):
            if service.skills <= skills:
                queues += [queue_name(tenant, service.code), queue_name(tenant, service.code, "text")]
    for agreement in agreements:
        if agreement.lender != tenant or "widen" not in agreement.actions:
            continue
        borrower = catalogue.tenants.get(agreement.borrower)
        if borrower is None:
            continue
        channels = agreement.channels
        for service in sorted(borrower.services.values(), key=lambda s: s.code):
            if agreement.services is not None and service.code not in agreement.services:
                continue
            if service.skills <= skills:
                if channels is None or channels & VOICE_CHANNELS:
                    queues.append(queue_name(agreement.borrower, service.code, "voice", agreement.id))
                if channels is None or channels & TEXT_CHANNELS:
                    queues.append(queue_name(agreement.borrower, service.code, "text", agreement.id))
    return queues
