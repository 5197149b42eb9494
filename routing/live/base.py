"""The live-state contract. Both implementations pass one contract test suite.

Each operation is atomic, so that several dispatchers can run at once. The invariant they keep: an agent idle
in a queue's pool never coexists with work waiting in that queue, except in a lender's ring whose gate is
closed or whose agreement is at its cap (the dispatcher's tick drains those when they reopen).

Queues. An enquiry waits in its owner's queue, ``tenant/service`` for live channels (one at a time per agent)
or ``tenant/service+text`` for web and email (several at once). Under an agreement it also joins a lender's
ring, ``<owner queue>@<agreement>``, when that ring opens, with the same score: the caller keeps their place.
Rings not yet open sit in one time-indexed set, so opening them costs the work done, never a queue scan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final, Protocol

from redis.exceptions import RedisError

# The pure pieces (queue names, scores, the clock) live in ``routing.live.names``, compiled with the simulator's
# group; re-exported here, where every caller imports them from.
from routing.live.names import DEFERRABLE_CHANNELS as DEFERRABLE_CHANNELS
from routing.live.names import HOUR_MS as HOUR_MS
from routing.live.names import PRIORITY_SPAN_MS as PRIORITY_SPAN_MS
from routing.live.names import TEXT_SUFFIX as TEXT_SUFFIX
from routing.live.names import Kind as Kind
from routing.live.names import agreement_of as agreement_of
from routing.live.names import base_queue_of as base_queue_of
from routing.live.names import enqueued_ms_of as enqueued_ms_of
from routing.live.names import kind_of as kind_of
from routing.live.names import kind_of_channel as kind_of_channel
from routing.live.names import local_hour as local_hour
from routing.live.names import owner_queue_of as owner_queue_of
from routing.live.names import queue_name as queue_name
from routing.live.names import queue_score as queue_score
from routing.live.names import to_ms as to_ms

# What a live state that is away raises (Redis restarting, the network down): an outage of a cache, never a bug.
OUTAGES: Final[tuple[type[Exception], ...]] = (RedisError, ConnectionError, OSError, TimeoutError)
# Idle agents as queue scores are (``PRIORITY_SPAN_MS``): a higher rank (0–9) first, then the longest idle.
RANK_SPAN_MS: Final = 10**13
MAX_RANK: Final = 9
STATS_BUCKET_MS: Final = 300_000  # rolling figures are kept in five-minute buckets


# The classes below have an ``__init__`` written out: compiled with the simulator's group (pyproject.toml
# ``[tool.hub.compiled]``) they are native classes whose fields compiled code reads directly (the per-contact ones,
# ``RingPlacement``, ``QueueEntry`` and ``Offer``, were msgspec Structs until the seventh round: a generic attribute
# lookup each from compiled code), and mypyc builds a dataclass natively only through one written out (the
# generated one runs as Python, and for a frozen one fails). The frozen ones set their fields with
# ``object.__setattr__`` (as the dataclass's own does) and pickle by their fields (``__reduce__``). Nothing may be
# set on them at run time but ``StatBucket``'s fields, nor may Python subclass them (native, in the live hub too).


def _by_fields(value: Any) -> tuple[Any, tuple[Any, ...]]:
    """``__reduce__`` for the frozen dataclasses here: rebuilt from their fields, positionally."""
    return type(value), tuple(getattr(value, f.name) for f in fields(value))


@dataclass(frozen=True)
class RingPlacement:
    """A lender's ring for one enquiry: its queue, and when the enquiry joins it."""

    queue: str
    opens_ms: int

    def __init__(self, queue: str, opens_ms: int) -> None:
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "opens_ms", opens_ms)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


@dataclass(frozen=True)
class QueueEntry:
    enquiry_id: int
    queue: str  # the owner's queue
    score: float
    rings: tuple[RingPlacement, ...] = ()

    def __init__(
        self, enquiry_id: int, queue: str, score: float, rings: tuple[RingPlacement, ...] = ()
    ) -> None:
        object.__setattr__(self, "enquiry_id", enquiry_id)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "rings", rings)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


def entry_for(
    enquiry_id: int,
    tenant: str,
    service_code: str,
    priority: int,
    queued_at_ms: int,
    *,
    channel: str = "phone",
    rings: tuple[RingPlacement, ...] = (),
) -> QueueEntry:
    """An enquiry's place: its owner's queue for the service, ranked by priority then time queued."""
    return QueueEntry(
        enquiry_id,
        queue_name(tenant, service_code, kind_of_channel(channel)),
        queue_score(priority, queued_at_ms),
        rings,
    )


@dataclass(frozen=True)
class Offer:
    """An enquiry reserved for one agent until ``expires_ms``, taken from ``queue`` (its owner's or a ring)."""

    enquiry_id: int
    agent_id: str
    queue: str
    score: float
    expires_ms: int
    rings: tuple[RingPlacement, ...] = ()

    def __init__(
        self,
        enquiry_id: int,
        agent_id: str,
        queue: str,
        score: float,
        expires_ms: int,
        rings: tuple[RingPlacement, ...] = (),
    ) -> None:
        object.__setattr__(self, "enquiry_id", enquiry_id)
        object.__setattr__(self, "agent_id", agent_id)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "expires_ms", expires_ms)
        object.__setattr__(self, "rings", rings)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)

    @property
    def entry(self) -> QueueEntry:
        """Back to where it was, at the same place, rings included."""
        return QueueEntry(self.enquiry_id, owner_queue_of(self.queue), self.score, self.rings)

    @property
    def agreement(self) -> str | None:
        return agreement_of(self.queue)


@dataclass(frozen=True)
class QueueState:
    waiting: int
    head_score: float | None
    idle_agents: int

    def __init__(self, waiting: int, head_score: float | None, idle_agents: int) -> None:
        object.__setattr__(self, "waiting", waiting)
        object.__setattr__(self, "head_score", head_score)
        object.__setattr__(self, "idle_agents", idle_agents)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


@dataclass(frozen=True)
class Caps:
    per_hour: int | None
    concurrent: int | None
    # The agreement's zone's offset from UTC now: ``per_hour`` counts its local clock hour (a zone half an hour
    # off UTC, or the hour that repeats when the clocks go back, is one hour there). Sent again when it changes.
    utc_offset_ms: int = 0

    def __init__(self, per_hour: int | None, concurrent: int | None, utc_offset_ms: int = 0) -> None:
        object.__setattr__(self, "per_hour", per_hour)
        object.__setattr__(self, "concurrent", concurrent)
        object.__setattr__(self, "utc_offset_ms", utc_offset_ms)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


@dataclass(frozen=True)
class OverflowCount:
    in_hand: int  # offered to or held by the lender's agents now
    this_hour: int  # distinct enquiries offered under the agreement in this local clock hour (Caps)

    def __init__(self, in_hand: int, this_hour: int) -> None:
        object.__setattr__(self, "in_hand", in_hand)
        object.__setattr__(self, "this_hour", this_hour)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


@dataclass
class StatBucket:
    """Counters for one service queue over the buckets asked for."""

    arrivals: int = 0
    handled: int = 0
    handle_ms: float = 0.0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0  # after the short-abandon limit
    extra: dict[str, float] = field(default_factory=dict)

    def __init__(
        self,
        arrivals: int = 0,
        handled: int = 0,
        handle_ms: float = 0.0,
        answered: int = 0,
        answered_within: int = 0,
        abandoned: int = 0,
        extra: dict[str, float] | None = None,
    ) -> None:
        self.arrivals, self.handled, self.handle_ms = arrivals, handled, handle_ms
        self.answered, self.answered_within, self.abandoned = answered, answered_within, abandoned
        self.extra = {} if extra is None else extra

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


STAT_FIELDS: Final = ("arrivals", "handled", "handle_ms", "answered", "answered_within", "abandoned")


def stats_since(buckets: dict[int, StatBucket], since_ms: int) -> StatBucket:
    """Add up the buckets from the one holding ``since_ms`` on (one read serves several windows)."""
    total = StatBucket()
    first = since_ms - since_ms % STATS_BUCKET_MS
    for start, bucket in buckets.items():
        if start >= first:  # each of STAT_FIELDS, spelt out: this runs for every queue at every refresh
            total.arrivals += bucket.arrivals
            total.handled += bucket.handled
            total.handle_ms += bucket.handle_ms
            total.answered += bucket.answered
            total.answered_within += bucket.answered_within
            total.abandoned += bucket.abandoned
    return total


def encode_rings(rings: tuple[RingPlacement, ...]) -> str:
    return ",".join(f"{r.queue}={r.opens_ms}" for r in rings)


def decode_rings(text: str | None) -> tuple[RingPlacement, ...]:
    if not text:
        return ()
    out = []
    for part in text.split(","):
        queue, _, opens = part.rpartition("=")
        out.append(RingPlacement(queue, int(float(opens))))
    return tuple(out)


class LiveState(Protocol):
    async def enqueue(self, entry: QueueEntry, *, now_ms: int, ttl_ms: int) -> Offer | None:
        """Offer to the longest-idle agent of the owner, then of each open ring; or wait (rings scheduled)."""

    async def enqueue_many(
        self, entries: Sequence[tuple[QueueEntry, int | None]], *, now_ms: int, ttl_ms: int
    ) -> list[Offer | None]:
        """``enqueue`` for each (entry, recheck at ms or None) in one round trip; one result per entry.

        An entry left waiting with a recheck time is scheduled for a re-decision (``schedule_recheck``).
        """

    async def replan_many(
        self, entries: Sequence[QueueEntry], *, now_ms: int, ttl_ms: int
    ) -> list[Offer | None]:
        """New rings for entries still waiting, at the same place (their score); others are left alone.

        Each entry leaves its old rings and ring schedule and is placed again as ``enqueue`` would (a ring open
        now with an idle agent makes an offer at once); a recheck it had is kept. One result per entry.
        """

    async def agent_ready(
        self,
        agent_id: str,
        queues: list[str],
        *,
        now_ms: int,
        ttl_ms: int,
        text_capacity: int = 1,
        ranks: Mapping[str, int] | None = None,
    ) -> Offer | None:
        """Take the best waiting entry the agent may take now, or join those queues' pools as idle since now.

        Live work first: an agent holding web forms or emails (up to ``text_capacity``) may still take a live
        contact; one handling a live contact takes nothing else. Ring queues are taken from only while their
        gate is open and under caps. ``ranks`` (queue -> 0–9, missing: 0) orders a queue's idle agents: the
        highest rank first, then the longest idle (a service that prefers the best-skilled agent).
        """

    async def agent_ready_many(
        self,
        agents: Sequence[tuple[str, list[str]]],
        *,
        now_ms: int,
        ttl_ms: int,
        text_capacity: int = 1,
        ranks: Sequence[Mapping[str, int] | None] | None = None,
    ) -> list[Offer | None]:
        """``agent_ready`` for each (agent, queues) in turn (``ranks``: one per agent), in one round trip."""

    async def agent_away(self, agent_id: str) -> None:
        """Leave every pool (the agent is on a break or signed out)."""

    async def offer_for(self, agent_id: str) -> Offer | None: ...

    async def offered_enquiries(self, agent_ids: Sequence[str]) -> list[int | None]:
        """The enquiry offered to each agent (None: no offer), in one round trip; one result per agent."""

    async def accept(self, agent_id: str, enquiry_id: int) -> bool:
        """Turn the agent's reservation into work in hand; False if that offer is not theirs any more."""

    async def finish(self, agent_id: str, enquiry_id: int) -> bool:
        """Work in hand is done: capacity (and the agreement's concurrent cap) is freed."""

    async def restore_hand(self, agent_id: str, enquiry_id: int, queue: str) -> None:
        """Rebuild: work in hand taken from ``queue`` (its kind and agreement count again)."""

    async def release(self, agent_id: str, enquiry_id: int) -> Offer | None:
        """Drop the agent's reservation of ``enquiry_id`` and return it, or None if it is not held."""

    async def withdraw(self, enquiry_id: int) -> Offer | bool:
        """Take an entry out of its queues (True), or out of a reservation (that Offer); False if absent."""

    async def withdraw_many(self, enquiry_ids: Sequence[int]) -> list[Offer | bool]:
        """``withdraw`` for each, in one round trip; one result per id."""

    async def pop_expired(self, now_ms: int, limit: int = 500) -> list[Offer]:
        """Remove and return reservations whose time ran out."""

    async def open_due(self, now_ms: int, ttl_ms: int, limit: int = 500) -> list[Offer]:
        """Put entries whose ring opened by ``now_ms`` into that ring; offer to idle agents there."""

    async def set_gates(self, gates: dict[str, bool], *, now_ms: int, ttl_ms: int) -> list[Offer]:
        """Open or close rings for lenders, then match idle agents with waiting work in every open ring."""

    async def configure_caps(self, caps: dict[str, Caps]) -> None:
        """The caps of every agreement (an agreement missing here takes nothing)."""

    async def record_gate_decisions(self, decisions: dict[str, str]) -> None:
        """Why each open lender's ring is open (``agreement|tenant/service`` -> JSON), as the tick that set the
        gates decided it; replaces the last tick's. Whichever process then offers in that ring reads them back."""

    async def gate_decisions(self, keys: list[str]) -> dict[str, str]:
        """The decisions last recorded for ``keys`` (a key never recorded is left out)."""

    async def overflow_counts(self, agreements: list[str], now_ms: int) -> dict[str, OverflowCount]: ...

    async def queue_states(self, queues: list[str]) -> dict[str, QueueState]: ...

    async def position(self, enquiry_id: int) -> tuple[str, int] | None:
        """The owner's queue an entry waits in and its 1-based place there."""

    async def schedule_recheck(self, enquiry_id: int, at_ms: int) -> None: ...

    async def pop_rechecks(self, now_ms: int, limit: int = 500) -> list[int]: ...

    async def record_stats(self, queue: str, now_ms: int, counts: dict[str, float]) -> None:
        """Add to the rolling figures of ``queue`` (its service) for the bucket holding ``now_ms``."""

    async def read_stats(
        self, queues: list[str], since_ms: int, now_ms: int
    ) -> dict[str, dict[int, StatBucket]]:
        """Per queue, the buckets (by start ms) from the one holding ``since_ms`` to now; see ``stats_since``."""

    async def queue_depths(self) -> dict[str, int]: ...

    async def is_built(self) -> bool:
        """False after a loss (or before the first build): the caller rebuilds from the database."""

    async def claim_rebuild(self, ttl_seconds: int = 60) -> bool:
        """True for the one process that may rebuild now (others wait for it)."""

    async def end_rebuild(self) -> None:
        """Let the next rebuild happen (the claim also lapses by itself)."""

    async def reset(self) -> None:
        """Forget everything and mark the state as built (called at the start of a rebuild)."""

    async def mark_unbuilt(self) -> None:
        """A rebuild failed part way: ``is_built`` is False again, so that the next attempt starts over."""

    async def close(self) -> None: ...
