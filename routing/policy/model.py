"""What the routing policy reads and returns: plain frozen data, no database or Redis types.

The live dispatcher builds a ``Snapshot`` from Redis and the catalogue; the what-if simulator builds one from
its own model. Both call the same ``decide`` and ``gates``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING, Any, Literal

import msgspec

VOICE_CHANNELS = frozenset({"phone", "callback", "face_to_face"})
TEXT_CHANNELS = frozenset({"web", "email"})
# "next_opening": a visitor out of hours is told when the desk opens (they can neither wait nor leave a message).
Action = Literal["queue", "offer_callback", "voicemail", "next_opening"]


@dataclass(frozen=True)
class Window:
    """Days (0 = Monday) and a local time range; ``end`` at or before ``start`` runs past midnight."""

    days: frozenset[int]
    start: time
    end: time

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


class EnquiryFacts(msgspec.Struct, frozen=True):
    id: int
    owner: str
    service_code: str
    channel: str
    priority: int
    queued_at: datetime
    position: int | None = None  # 1 at the head; None before it is queued


class QueueFigures(msgspec.Struct, frozen=True):
    """One queue (a tenant's service), live and rolling."""

    waiting: int = 0
    head_wait_seconds: float = 0.0
    arrivals_per_second: float = 0.0  # rolling, over the last interval
    aht_seconds: float | None = None  # rolling; None until something was handled
    agents_staffed: int = 0  # signed in with the skills (available or busy)
    agents_idle: int = 0
    interval_service_level: float | None = None  # this interval so far


NO_FIGURES = QueueFigures()  # a queue nothing is known of (frozen: one will do for all)


class Snapshot(msgspec.Struct, frozen=True):
    now: datetime
    queues: Mapping[str, QueueFigures]  # "tenant/service"
    services: Mapping[str, ServiceTerms]  # "tenant/service"
    open_now: Mapping[str, bool]  # tenant -> open for contacts now (missing: open)
    agreements: Sequence[Agreement] = ()
    agents: Mapping[tuple[str, str], int] = msgspec.field(default_factory=dict)  # (tenant, skill) -> staffed
    overflow_in_hand: Mapping[str, int] = msgspec.field(default_factory=dict)  # agreement -> concurrent now
    overflow_this_hour: Mapping[str, int] = msgspec.field(
        default_factory=dict
    )  # agreement -> taken this hour
    # (agreement, borrower "tenant/service") -> (the lender's agents signed in with the skills, idle in that ring
    # now): what an honest predicted wait counts besides the owner's own agents (empty: owners' agents only).
    ring_agents: Mapping[tuple[str, str], tuple[int, int]] = msgspec.field(default_factory=dict)

    def figures(self, tenant: str, service: str) -> QueueFigures:
        return self.queues.get(f"{tenant}/{service}", NO_FIGURES)


class _Later:
    """Fields of a frozen dataclass worked out when first read: ``_later`` in the instance's ``__dict__`` holds
    (their names, a function, its arguments); the function returns their values (one name: the value)."""

    __slots__ = ()

    if not TYPE_CHECKING:  # to the type checker they are plain fields

        def __getattr__(self, name: str) -> Any:
            # Only called for an attribute the instance lacks: a later field, unread so far.
            fields_ = self.__dict__
            later = fields_.get("_later")
            if later is None or name not in later[0]:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            names, make, args = later
            values = make(*args)
            if len(names) == 1:
                fields_[names[0]] = values
            else:
                for field_name, value in zip(names, values, strict=True):
                    fields_[field_name] = value
            fields_.pop("_later", None)
            return fields_[name]


@dataclass(frozen=True, init=False)
class Reason(_Later):
    """One rule that shaped a decision, with the figures it looked at."""

    rule: str
    says: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, rule: str, says: str, figures: Mapping[str, Any] | None = None) -> None:
        # Fills the instance's dict: a frozen dataclass's own __init__ sets each field through
        # object.__setattr__, three times slower, and the simulator makes millions (docs/benchmarks.md).
        fields_ = self.__dict__
        fields_["rule"], fields_["says"], fields_["figures"] = rule, says, {} if figures is None else figures

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "says": self.says, "figures": dict(self.figures)}

    @classmethod
    def later(cls, rule: str, make: Callable[..., tuple[str, Mapping[str, Any]]], *args: Any) -> Reason:
        """A reason whose text and figures are ``make(*args)``, worked out when first read (``says``,
        ``figures``, ``as_dict``, equality, ``repr``): the same reason as if built at once, for the price of
        a tuple when nobody reads it (the simulator reads none of its millions). ``args`` must not change."""
        reason = cls.__new__(cls)
        fields_ = reason.__dict__
        fields_["rule"] = rule
        fields_["_later"] = (("says", "figures"), make, args)
        return reason


class Ring(msgspec.Struct, frozen=True):
    """A pool of agents that may take the enquiry from ``opens_at`` on (the caller keeps their place)."""

    pool: str  # the tenant whose agents are in the ring
    opens_at: datetime
    agreement: str | None = None  # None: the owner's own agents


@dataclass(frozen=True, init=False)
class Prediction(_Later):
    seconds: float | None  # None: nobody is signed in to answer
    method: str  # "erlang_c", "position" or "no_agents"; "…_with_lenders" when lenders' agents are counted
    figures: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, seconds: float | None, method: str, figures: Mapping[str, Any] | None = None) -> None:
        fields_ = self.__dict__  # as Reason's
        fields_["seconds"], fields_["method"], fields_["figures"] = (
            seconds,
            method,
            {} if figures is None else figures,
        )

    @classmethod
    def later(
        cls, seconds: float | None, method: str, make: Callable[..., Mapping[str, Any]], *args: Any
    ) -> Prediction:
        """A prediction whose figures are ``make(*args)``, worked out when first read (as ``Reason.later``)."""
        prediction = cls.__new__(cls)
        fields_ = prediction.__dict__
        fields_["seconds"], fields_["method"] = seconds, method
        fields_["_later"] = (("figures",), make, args)
        return prediction


class Decision(msgspec.Struct, frozen=True):
    priority: int
    rings: tuple[Ring, ...]
    action: Action
    predicted_wait: Prediction
    reasons: tuple[Reason, ...]

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


class Gate(msgspec.Struct, frozen=True):
    """Whether a lender's agents may take a borrower's queue now, and why."""

    agreement: str
    borrower_queue: str  # "tenant/service"
    open: bool
    reasons: tuple[Reason, ...]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
