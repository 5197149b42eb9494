"""The router's pure steps that run for every contact: an enquiry's place, the gates' rings, rolling figures.

``routing.dispatch.router`` uses them (and re-exports ``gate_map`` and ``rolling_figures``); they are here, apart
from its classes, so that mypyc compiles them with the simulator's group (pyproject.toml ``[tool.hub.compiled]``,
docs/simulator.md) without making ``Router`` or the caches native classes. Nothing here is a class.
"""

from __future__ import annotations

from typing import Any, Final

from routing.live.base import STATS_BUCKET_MS, QueueEntry, RingPlacement, StatBucket
from routing.live.names import Kind, kind_of_channel, queue_name, queue_score, to_ms
from routing.policy.model import Decision, EnquiryFacts, Gate

ROLLING_SECONDS: Final = 1800  # arrival rate and handle time over the last half hour
INTERVAL_SECONDS: Final = 1800  # the committee's reporting interval for "this interval's service level"
KINDS: Final[tuple[Kind, ...]] = ("voice", "text")


def placement(fact: EnquiryFacts, decision: Decision) -> QueueEntry:
    """Where the decision puts the enquiry: its owner's queue, and each lender's ring with when it opens."""
    kind = kind_of_channel(fact.channel)
    # A list then a tuple: quicker than a generator for the one to three rings (the simulator places millions).
    rings = tuple(
        [
            RingPlacement(queue_name(fact.owner, fact.service_code, kind, r.agreement), to_ms(r.opens_at))
            for r in decision.rings
            if r.agreement is not None
        ]
    )
    return QueueEntry(
        fact.id,
        queue_name(fact.owner, fact.service_code, kind),
        queue_score(decision.priority, to_ms(fact.queued_at)),
        rings,
    )


def gate_map(gate_list: list[Gate]) -> dict[str, bool]:
    """Each gate opens or closes the lender's live and text rings for the borrower's queue."""
    out: dict[str, bool] = {}
    for gate in gate_list:
        tenant, code = gate.borrower_queue.split("/", 1)
        for kind in KINDS:
            out[queue_name(tenant, code, kind, gate.agreement)] = gate.open
    return out


def rolling_figures(buckets: dict[int, StatBucket], now_ms: int) -> tuple[float, float | None, float | None]:
    """A queue's arrivals per second and handle time over the rolling half hour, and its service level in the
    committee's interval so far (None where nothing was handled or judged): the live hub's and the simulator's.

    ``stats_since`` for both windows in one pass, without a ``StatBucket`` for each: the same sums, added in the
    same order from the same starting values (``Any``: each as the live state typed it, no conversion here).
    """
    rolling_from = _bucket_start(now_ms - ROLLING_SECONDS * 1000)
    interval_from = _bucket_start(now_ms - now_ms % (INTERVAL_SECONDS * 1000))
    arrivals: Any = 0
    handled: Any = 0
    handle_ms: Any = 0.0
    answered: Any = 0
    answered_within: Any = 0
    abandoned: Any = 0
    for start, bucket in buckets.items():
        if start >= rolling_from:
            arrivals += bucket.arrivals
            handled += bucket.handled
            handle_ms += bucket.handle_ms
        if start >= interval_from:
            answered += bucket.answered
            answered_within += bucket.answered_within
            abandoned += bucket.abandoned
    judged = answered + abandoned
    return (
        arrivals / ROLLING_SECONDS,
        handle_ms / handled / 1000 if handled else None,
        answered_within / judged if judged else None,
    )


def _bucket_start(since_ms: int) -> int:
    """The start of the bucket holding ``since_ms`` (``stats_since``'s first bucket)."""
    return since_ms - since_ms % STATS_BUCKET_MS
