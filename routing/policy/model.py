"""What the routing policy reads and returns: plain frozen data, no database or Redis types.

The live dispatcher builds a ``Snapshot`` from Redis and the catalogue; the what-if simulator builds one from
its own model. Both call the same ``decide`` and ``gates``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, time
from typing import Any, Final, Literal

VOICE_CHANNELS: Final = frozenset({"phone", "callback", "face_to_face"})
TEXT_CHANNELS: Final = frozenset({"web", "email"})
# "next_opening": a visitor out of hours is told when the desk opens (they can neither wait nor leave a message).
Action = Literal["queue", "offer_callback", "voicemail", "next_opening"]


# Every value here but a decision's reasons and prediction (below) is a frozen dataclass with an ``__init__`` of its
# own: compiled with the simulator's group (pyproject.toml ``[tool.hub.compiled]``, docs/simulator.md) they are
# native classes whose fields compiled code reads directly (a field of a msgspec Struct, which the per-contact ones
# were until the seventh round, is a generic attribute look-up from compiled code, ~10 ns against ~1), and mypyc
# builds a frozen dataclass only through an ``__init__`` written out (its generated one fails: it assigns through
# the frozen ``__setattr__``). ``object.__setattr__`` is what the dataclass's own would do (compiled, a direct
# store: 25 ns to build one of four fields, against 58 ns for a Struct). Equality, hash, ``repr``, ``replace`` and
# the frozen ``__setattr__`` are the dataclass's; ``__reduce__`` pickles them by their fields (a native class cannot
# be pickled otherwise). Nothing may be set on them at run time nor subclass them in Python (native classes, in the
# live hub too).


def _by_fields(value: Any) -> tuple[Any, tuple[Any, ...]]:
    """``__reduce__`` for the frozen dataclasses here: rebuilt from their fields, positionally."""
    return type(value), tuple(getattr(value, f.name) for f in fields(value))


@dataclass(frozen=True)
class Window:
    """Days (0 = Monday) and a local time range; ``end`` at or before ``start`` runs past midnight."""

    days: frozenset[int]
    start: time
    end: time

    def __init__(self, days: frozenset[int], start: time, end: time) -> None:
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)

    def contains(self, local: datetime) -> bool:
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= t < self.end
        # Past midnight: the part before midnight belongs to today, the part after to yesterday's window.
        if t >= self.start:
            return local.weekday() in self.days
        return t < self.end and (local.weekday() - 1) % 7 in self.days


@dataclass(frozen=True)
class Conditions:
    """All the given conditions must hold for the agreement to apply (an empty set always holds)."""

    out_of_borrower_hours: bool = False
    queue_length_at_least: int | None = None
    predicted_wait_at_least_seconds: float | None = None
    waited_at_least_seconds: float | None = None
    borrower_service_level_at_risk: bool = False

    def __init__(
        self,
        out_of_borrower_hours: bool = False,
        queue_length_at_least: int | None = None,
        predicted_wait_at_least_seconds: float | None = None,
        waited_at_least_seconds: float | None = None,
        borrower_service_level_at_risk: bool = False,
    ) -> None:
        object.__setattr__(self, "out_of_borrower_hours", out_of_borrower_hours)
        object.__setattr__(self, "queue_length_at_least", queue_length_at_least)
        object.__setattr__(self, "predicted_wait_at_least_seconds", predicted_wait_at_least_seconds)
        object.__setattr__(self, "waited_at_least_seconds", waited_at_least_seconds)
        object.__setattr__(self, "borrower_service_level_at_risk", borrower_service_level_at_risk)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


@dataclass(frozen=True)
class Agreement:
    id: str
    lender: str
    borrower: str
    services: frozenset[str] | None  # None: every service of the borrower
    channels: frozenset[str] | None  # None: every channel
    windows: tuple[Window, ...]  # empty: at any time
    timezone: str
    conditions: Conditions
    actions: frozenset[str]  # widen, offer_callback, voicemail
    max_per_hour: int | None
    max_concurrent: int | None
    lender_protection: (
        float | None
    )  # the lender's predicted SL must stay at or above this (None: its targets)
    unit_rate: float
    visible_fields: tuple[str, ...]

    def __init__(
        self,
        id: str,
        lender: str,
        borrower: str,
        services: frozenset[str] | None,
        channels: frozenset[str] | None,
        windows: tuple[Window, ...],
        timezone: str,
        conditions: Conditions,
        actions: frozenset[str],
        max_per_hour: int | None,
        max_concurrent: int | None,
        lender_protection: float | None,
        unit_rate: float,
        visible_fields: tuple[str, ...],
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "lender", lender)
        object.__setattr__(self, "borrower", borrower)
        object.__setattr__(self, "services", services)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "timezone", timezone)
        object.__setattr__(self, "conditions", conditions)
        object.__setattr__(self, "actions", actions)
        object.__setattr__(self, "max_per_hour", max_per_hour)
        object.__setattr__(self, "max_concurrent", max_concurrent)
        object.__setattr__(self, "lender_protection", lender_protection)
        object.__setattr__(self, "unit_rate", unit_rate)
        object.__setattr__(self, "visible_fields", visible_fields)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)

    def covers(self, service_code: str, channel: str) -> bool:
        return (self.services is None or service_code in self.services) and (
            self.channels is None or channel in self.channels
        )


@dataclass(frozen=True)
class ServiceTerms:
    """What the policy needs from a catalogue service."""

    tenant: str
    code: str
    skills: frozenset[str]
    priority: int
    sl_threshold_seconds: int
    sl_target: float
    callbacks: bool = False
    callback_after_seconds: int | None = None  # None: the service-level threshold
    default_aht_seconds: float = 240.0

    def __init__(
        self,
        tenant: str,
        code: str,
        skills: frozenset[str],
        priority: int,
        sl_threshold_seconds: int,
        sl_target: float,
        callbacks: bool = False,
        callback_after_seconds: int | None = None,
        default_aht_seconds: float = 240.0,
    ) -> None:
        object.__setattr__(self, "tenant", tenant)
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "skills", skills)
        object.__setattr__(self, "priority", priority)
        object.__setattr__(self, "sl_threshold_seconds", sl_threshold_seconds)
        object.__setattr__(self, "sl_target", sl_target)
        object.__setattr__(self, "callbacks", callbacks)
        object.__setattr__(self, "callback_after_seconds", callback_after_seconds)
        object.__setattr__(self, "default_aht_seconds", default_aht_seconds)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


# A decision's reasons and predicted wait: values whose text and figures may be worked out when first read
# (``later``). Not dataclasses: a dataclass's fields cannot be filled on first read by a native class, and they were
# Python objects filling their ``__dict__`` until the seventh round, four allocations each and a generic look-up
# per field from compiled code, a dozen per arrival. Read-only to everyone else (properties), equal, hashable,
# ``repr``-ed and pickled by their fields, as the frozen dataclasses they were.
_UNREAD: Final[Mapping[str, Any]] = {}  # the figures of a reason not yet worked out (never handed out)


class Reason:
    """One rule that shaped a decision, with the figures it looked at."""

    _rule: str
    _says: str
    _figures: Mapping[str, Any]
    _make: Callable[..., tuple[str, Mapping[str, Any]]] | None
    _args: tuple[Any, ...]

    def __init__(self, rule: str, says: str, figures: Mapping[str, Any] | None = None) -> None:
        self._rule, self._says = rule, says
        self._figures = {} if figures is None else figures
        self._make, self._args = None, ()

    @classmethod
    def later(cls, rule: str, make: Callable[..., tuple[str, Mapping[str, Any]]], *args: Any) -> Reason:
        """A reason whose text and figures are ``make(*args)``, worked out when first read (``says``,
        ``figures``, ``as_dict``, equality, ``repr``): the same reason as if built at once, for the price of
        one object when nobody reads it (the simulator reads none of its millions). ``args`` must not change."""
        reason = Reason(rule, "", _UNREAD)
        reason._make, reason._args = make, args
        return reason

    def _work_out(self) -> None:
        make = self._make
        if make is not None:
            self._says, self._figures = make(*self._args)
            self._make, self._args = None, ()

    @property
    def rule(self) -> str:
        return self._rule

    @property
    def says(self) -> str:
        self._work_out()
        return self._says

    @property
    def figures(self) -> Mapping[str, Any]:
        self._work_out()
        return self._figures

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "says": self.says, "figures": dict(self.figures)}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reason):
            return NotImplemented
        return (self.rule, self.says, self.figures) == (other.rule, other.says, other.figures)

    def __hash__(self) -> int:
        return hash(
            (self.rule, self.says, self.figures)
        )  # figures in a dict: unhashable, as the dataclass was

    def __repr__(self) -> str:
        return f"Reason(rule={self.rule!r}, says={self.says!r}, figures={self.figures!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return Reason, (self.rule, self.says, self.figures)


class Prediction:
    """A predicted wait: ``seconds`` (None: nobody is signed in to answer), the ``method`` ("erlang_c",
    "position" or "no_agents"; "…_with_lenders" when lenders' agents are counted) and the figures behind it."""

    _seconds: float | None
    _method: str
    _figures: Mapping[str, Any]
    _make: Callable[..., Mapping[str, Any]] | None
    _args: tuple[Any, ...]

    def __init__(self, seconds: float | None, method: str, figures: Mapping[str, Any] | None = None) -> None:
        self._seconds, self._method = seconds, method
        self._figures = {} if figures is None else figures
        self._make, self._args = None, ()

    @classmethod
    def later(
        cls, seconds: float | None, method: str, make: Callable[..., Mapping[str, Any]], *args: Any
    ) -> Prediction:
        """A prediction whose figures are ``make(*args)``, worked out when first read (as ``Reason.later``)."""
        prediction = Prediction(seconds, method, _UNREAD)
        prediction._make, prediction._args = make, args
        return prediction

    @property
    def seconds(self) -> float | None:
        return self._seconds

    @property
    def method(self) -> str:
        return self._method

    @property
    def figures(self) -> Mapping[str, Any]:
        make = self._make
        if make is not None:
            self._figures = make(*self._args)
            self._make, self._args = None, ()
        return self._figures

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prediction):
            return NotImplemented
        return (self.seconds, self.method, self.figures) == (other.seconds, other.method, other.figures)

    def __hash__(self) -> int:
        return hash((self.seconds, self.method, self.figures))

    def __repr__(self) -> str:
        return f"Prediction(seconds={self.seconds!r}, method={self.method!r}, figures={self.figures!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return Prediction, (self.seconds, self.method, self.figures)


@dataclass(frozen=True)
class EnquiryFacts:
    id: int
    owner: str
    service_code: str
    channel: str
    priority: int
    queued_at: datetime
    position: int | None = None  # 1 at the head; None before it is queued

    def __init__(
        self,
        id: int,
        owner: str,
        service_code: str,
        channel: str,
        priority: int,
        queued_at: datetime,
        position: int | None = None,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "owner", owner)
        object.__setattr__(self, "service_code", service_code)
        object.__setattr__(self, "channel", channel)
        object.__setattr__(self, "priority", priority)
        object.__setattr__(self, "queued_at", queued_at)
        object.__setattr__(self, "position", position)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


@dataclass(frozen=True)
class QueueFigures:
    """One queue (a tenant's service), live and rolling."""

    waiting: int = 0
    head_wait_seconds: float = 0.0
    arrivals_per_second: float = 0.0  # rolling, over the last interval
    aht_seconds: float | None = None  # rolling; None until something was handled
    agents_staffed: int = 0  # signed in with the skills (available or busy)
    agents_idle: int = 0
    interval_service_level: float | None = None  # this interval so far

    def __init__(
        self,
        waiting: int = 0,
        head_wait_seconds: float = 0.0,
        arrivals_per_second: float = 0.0,
        aht_seconds: float | None = None,
        agents_staffed: int = 0,
        agents_idle: int = 0,
        interval_service_level: float | None = None,
    ) -> None:
        object.__setattr__(self, "waiting", waiting)
        object.__setattr__(self, "head_wait_seconds", head_wait_seconds)
        object.__setattr__(self, "arrivals_per_second", arrivals_per_second)
        object.__setattr__(self, "aht_seconds", aht_seconds)
        object.__setattr__(self, "agents_staffed", agents_staffed)
        object.__setattr__(self, "agents_idle", agents_idle)
        object.__setattr__(self, "interval_service_level", interval_service_level)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


NO_FIGURES: Final = QueueFigures()  # a queue nothing is known of (frozen: one will do for all)


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    queues: Mapping[str, QueueFigures]  # "tenant/service"
    services: Mapping[str, ServiceTerms]  # "tenant/service"
    open_now: Mapping[str, bool]  # tenant -> open for contacts now (missing: open)
    agreements: Sequence[Agreement] = ()
    agents: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (tenant, skill) -> staffed
    overflow_in_hand: Mapping[str, int] = field(default_factory=dict)  # agreement -> concurrent now
    overflow_this_hour: Mapping[str, int] = field(default_factory=dict)  # agreement -> taken this hour
    # (agreement, borrower "tenant/service") -> (the lender's agents signed in with the skills, idle in that ring
    # now): what an honest predicted wait counts besides the owner's own agents (empty: owners' agents only).
    ring_agents: Mapping[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    def __init__(
        self,
        now: datetime,
        queues: Mapping[str, QueueFigures],
        services: Mapping[str, ServiceTerms],
        open_now: Mapping[str, bool],
        agreements: Sequence[Agreement] = (),
        agents: Mapping[tuple[str, str], int] | None = None,
        overflow_in_hand: Mapping[str, int] | None = None,
        overflow_this_hour: Mapping[str, int] | None = None,
        ring_agents: Mapping[tuple[str, str], tuple[int, int]] | None = None,
    ) -> None:
        # None for the mappings: a new empty dict each, as ``default_factory`` would give.
        object.__setattr__(self, "now", now)
        object.__setattr__(self, "queues", queues)
        object.__setattr__(self, "services", services)
        object.__setattr__(self, "open_now", open_now)
        object.__setattr__(self, "agreements", agreements)
        object.__setattr__(self, "agents", {} if agents is None else agents)
        object.__setattr__(self, "overflow_in_hand", {} if overflow_in_hand is None else overflow_in_hand)
        object.__setattr__(
            self, "overflow_this_hour", {} if overflow_this_hour is None else overflow_this_hour
        )
        object.__setattr__(self, "ring_agents", {} if ring_agents is None else ring_agents)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)

    def figures(self, tenant: str, service: str) -> QueueFigures:
        return self.queues.get(f"{tenant}/{service}", NO_FIGURES)


@dataclass(frozen=True)
class Ring:
    """A pool of agents that may take the enquiry from ``opens_at`` on (the caller keeps their place)."""

    pool: str  # the tenant whose agents are in the ring
    opens_at: datetime
    agreement: str | None = None  # None: the owner's own agents

    def __init__(self, pool: str, opens_at: datetime, agreement: str | None = None) -> None:
        object.__setattr__(self, "pool", pool)
        object.__setattr__(self, "opens_at", opens_at)
        object.__setattr__(self, "agreement", agreement)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


@dataclass(frozen=True)
class Decision:
    priority: int
    rings: tuple[Ring, ...]
    action: Action
    predicted_wait: Prediction
    reasons: tuple[Reason, ...]

    def __init__(
        self,
        priority: int,
        rings: tuple[Ring, ...],
        action: Action,
        predicted_wait: Prediction,
        reasons: tuple[Reason, ...],
    ) -> None:
        object.__setattr__(self, "priority", priority)
        object.__setattr__(self, "rings", rings)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "predicted_wait", predicted_wait)
        object.__setattr__(self, "reasons", reasons)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "priority": self.priority,
            "action": self.action,
            "rings": [
                {"pool": r.pool, "opens_at": r.opens_at.isoformat(), "agreement": r.agreement}
                for r in self.rings
            ],
            "predicted_wait_seconds": _round(self.predicted_wait.seconds),
            "prediction_method": self.predicted_wait.method,
            "reasons": [r.as_dict() for r in self.reasons],
        }


@dataclass(frozen=True)
class Gate:
    """Whether a lender's agents may take a borrower's queue now, and why."""

    agreement: str
    borrower_queue: str  # "tenant/service"
    open: bool
    reasons: tuple[Reason, ...]

    def __init__(self, agreement: str, borrower_queue: str, open: bool, reasons: tuple[Reason, ...]) -> None:
        object.__setattr__(self, "agreement", agreement)
        object.__setattr__(self, "borrower_queue", borrower_queue)
        object.__setattr__(self, "open", open)
        object.__setattr__(self, "reasons", reasons)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _by_fields(self)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
