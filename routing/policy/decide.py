"""The routing policy: where an enquiry may go, when, and what the caller is offered, with the reasons.

Pure: everything it knows comes in the ``Snapshot``; it reads no clock, database or Redis. Read top to bottom:
``decide`` for one enquiry, ``gates`` for whether each lender's ring is open now, and the rules they share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from routing.policy.erlang import asa as erlang_asa
from routing.policy.erlang import offered_load, service_level
from routing.policy.model import (
    NO_FIGURES,
    VOICE_CHANNELS,
    Action,
    Agreement,
    Decision,
    EnquiryFacts,
    Gate,
    Prediction,
    QueueFigures,
    Reason,
    Ring,
    ServiceTerms,
    Snapshot,
    Window,
)


def decide(enquiry: EnquiryFacts, service: ServiceTerms, snapshot: Snapshot) -> Decision:
    """Rings (own agents first, then lenders under agreements), the caller's action, and why."""
    now = snapshot.now
    figures = _figures(snapshot, enquiry.owner, enquiry.service_code)
    position = enquiry.position if enquiry.position is not None else figures.waiting + 1
    prediction = predict_wait(figures, service, position)
    # Reasons' texts and figures are worked out when read (``Reason.later``): the simulator reads none.
    reasons: list[Reason] = [
        Reason.later("priority", _priority_reason, enquiry.priority),
        Reason.later("own_agents", _own_agents_reason, enquiry.owner, service, figures),
    ]
    lent: list[tuple[Agreement, datetime, bool]] = []  # lenders' rings: opening when, gate open now
    rings = [Ring(enquiry.owner, enquiry.queued_at)]
    owner_open = snapshot.open_now.get(enquiry.owner, True)
    lender_takes_now = False
    agreement_action: tuple[Action, Agreement] | None = None

    for agreement in snapshot.agreements:
        if agreement.borrower != enquiry.owner or not agreement.covers(enquiry.service_code, enquiry.channel):
            continue
        if "widen" in agreement.actions:
            gate = gate_for(agreement, service, snapshot)
            opens_at = ring_opens_at(agreement, enquiry.queued_at, now)
            rings.append(Ring(agreement.lender, opens_at, agreement.id))
            lent.append((agreement, opens_at, gate.open))
            if gate.open and opens_at <= now:
                lender_takes_now = True
            reasons.append(Reason.later("agreement", _ring_reason, agreement, opens_at, gate))
        other = agreement.actions & _CALLER_ACTIONS
        if other and agreement_action is None:
            holds, why = agreement_applies_now(agreement, service, snapshot, waited=now - enquiry.queued_at)
            if holds:
                action: Action = "voicemail" if "voicemail" in other else "offer_callback"
                agreement_action = (action, agreement)
                reasons.append(
                    Reason(
                        "agreement",
                        f"{action} under {agreement.id}",
                        {"agreement": agreement.id, "because": why},
                    )
                )

    if lent and snapshot.ring_agents:
        prediction = with_lenders(prediction, figures, service, position, lent, snapshot)
    reasons.insert(1, Reason.later("predicted_wait", _prediction_reason, prediction))
    action = _caller_action(
        enquiry, service, prediction, owner_open, lender_takes_now, agreement_action, reasons
    )
    return Decision(enquiry.priority, tuple(rings), action, prediction, tuple(reasons))


def _figures(snapshot: Snapshot, tenant: str, service: str) -> QueueFigures:
    """``Snapshot.figures``, here so that compiled it is a direct call rather than a Python method's frame."""
    return snapshot.queues.get(f"{tenant}/{service}", NO_FIGURES)


def _priority_reason(priority: int) -> tuple[str, dict[str, Any]]:
    return f"priority {priority}", {"priority": priority}


def _prediction_reason(prediction: Prediction) -> tuple[str, dict[str, Any]]:
    return _prediction_text(prediction), {
        "seconds": _round(prediction.seconds),
        "method": prediction.method,
        **prediction.figures,
    }


def _own_agents_reason(
    owner: str, service: ServiceTerms, figures: QueueFigures
) -> tuple[str, dict[str, Any]]:
    return f"{owner}'s agents with {_skills_text(service.skills)}", {
        "staffed": figures.agents_staffed,
        "idle": figures.agents_idle,
        "waiting": figures.waiting,
    }


def _ring_reason(agreement: Agreement, opens_at: datetime, gate: Gate) -> tuple[str, dict[str, Any]]:
    return (
        f"{agreement.lender}'s agents may take it from {opens_at.isoformat(timespec='seconds')} "
        f"under {agreement.id} ({'open' if gate.open else 'closed'} now)",
        {
            "agreement": agreement.id,
            "lender": agreement.lender,
            "opens_at": opens_at.isoformat(),
            "gate_open": gate.open,
            "because": [r.says for r in gate.reasons],
        },
    )


# An agreement's actions other than widening.
_CALLER_ACTIONS: Final = frozenset({"offer_callback", "voicemail"})


def _caller_action(
    enquiry: EnquiryFacts,
    service: ServiceTerms,
    prediction: Prediction,
    owner_open: bool,
    lender_takes_now: bool,
    agreement_action: tuple[Action, Agreement] | None,
    reasons: list[Reason],
) -> Action:
    live = enquiry.channel in VOICE_CHANNELS and enquiry.channel != "callback"
    if not owner_open and not lender_takes_now:
        if agreement_action is not None:
            return agreement_action[0]
        if not live:
            reasons.append(Reason("out_of_hours", f"{enquiry.owner} is closed; it waits for the morning"))
            return "queue"
        if enquiry.channel == "face_to_face":
            # A visitor at a closed desk can neither wait overnight nor leave a voicemail: tell them when it opens.
            reasons.append(
                Reason(
                    "out_of_hours",
                    f"{enquiry.owner} is closed and no agreement takes the visitor now: "
                    "told when the desk next opens",
                )
            )
            return "next_opening"
        action: Action = "offer_callback" if service.callbacks else "voicemail"
        reasons.append(
            Reason(
                "out_of_hours",
                f"{enquiry.owner} is closed and no agreement takes the call now: {action.replace('_', ' ')}",
                {"callbacks_allowed": service.callbacks},
            )
        )
        return action
    if not owner_open:
        reasons.append(Reason("out_of_hours", f"{enquiry.owner} is closed; a lender takes the call"))
    if agreement_action is not None:
        return agreement_action[0]
    threshold = service.callback_after_seconds or service.sl_threshold_seconds
    if live and service.callbacks and (prediction.seconds is None or prediction.seconds > threshold):
        reasons.append(Reason.later("callback", _callback_reason, threshold, prediction))
        return "offer_callback"
    return "queue"


def _callback_reason(threshold: int, prediction: Prediction) -> tuple[str, dict[str, Any]]:
    return (
        f"predicted wait over {threshold} s: offer a callback (the caller keeps their place)",
        {"threshold_seconds": threshold, "predicted_seconds": _round(prediction.seconds)},
    )


# -- predicted wait ---------------------------------------------------------------------------------------


def predict_wait(figures: QueueFigures, service: ServiceTerms, position: int) -> Prediction:
    """Erlang C (rolling arrivals and handle time) in the steady state; position × AHT ÷ agents otherwise.

    Erlang C describes a queue in balance. Once more are waiting than there are agents, or the load is at or
    over capacity, the backlog ahead of the caller is what decides their wait, so the position estimate wins.
    """
    aht = figures.aht_seconds or service.default_aht_seconds
    n = figures.agents_staffed
    if n <= 0:
        return Prediction(None, "no_agents", {"agents": 0, "position": position})
    load = offered_load(figures.arrivals_per_second, aht)
    # The figures behind the prediction are worked out when read (``Prediction.later``): the simulator reads none.
    if figures.arrivals_per_second > 0 and load < n and position <= n:
        return Prediction.later(
            erlang_asa(n, load, aht),
            "erlang_c",
            _erlang_figures,
            n,
            aht,
            position,
            load,
            figures.arrivals_per_second,
        )
    if position <= figures.agents_idle:
        return Prediction.later(0.0, "position", _position_figures, n, aht, position)
    return Prediction.later(position * aht / n, "position", _position_figures, n, aht, position)


def estimate_wait(
    enquiry: EnquiryFacts, service: ServiceTerms, snapshot: Snapshot, position: int
) -> Prediction:
    """A waiting enquiry's predicted wait now: its owner's agents and the lenders' whose rings are open or will
    open (``decide``'s estimate, for a caller already in the queue)."""
    figures = _figures(snapshot, enquiry.owner, enquiry.service_code)
    prediction = predict_wait(figures, service, position)
    lent = [
        (a, ring_opens_at(a, enquiry.queued_at, snapshot.now), gate_for(a, service, snapshot).open)
        for a in snapshot.agreements
        if a.borrower == enquiry.owner
        and "widen" in a.actions
        and a.covers(enquiry.service_code, enquiry.channel)
    ]
    if lent and snapshot.ring_agents:
        return with_lenders(prediction, figures, service, position, lent, snapshot)
    return prediction


def with_lenders(
    own: Prediction,
    figures: QueueFigures,
    service: ServiceTerms,
    position: int,
    lent: Sequence[tuple[Agreement, datetime, bool]],
    snapshot: Snapshot,
) -> Prediction:
    """Count the lenders' agents as well: those of rings open now join the owner's at once; a ring opening
    later (its gate open now) offers ``opens in + the wait with its agents too``, if that is sooner.

    A ring whose gate is closed now is not counted (the lender is protecting its own callers, or a condition
    does not hold); each ring is published with what was counted and why.
    """
    base = f"{service.tenant}/{service.code}"
    now_staffed = now_idle = 0
    later: list[tuple[float, int, int]] = []
    published: list[dict[str, Any]] = []
    for agreement, opens_at, gate_open in lent:
        staffed, idle = snapshot.ring_agents.get((agreement.id, base), (0, 0))
        opens_in = max(0.0, (opens_at - snapshot.now).total_seconds())
        counted = bool(staffed) and gate_open
        published.append(
            {
                "agreement": agreement.id,
                "lender": agreement.lender,
                "agents": staffed,
                "idle": idle,
                "opens_in_seconds": round(opens_in, 1),
                "counted": counted,
                **({} if counted else {"why_not": "gate closed now" if staffed else "no agents signed in"}),
            }
        )
        if not counted:
            continue
        if opens_in == 0:
            now_staffed, now_idle = now_staffed + staffed, now_idle + idle
        else:
            later.append((opens_in, staffed, idle))
    if not now_staffed and not later:
        return own
    seconds, method = own.seconds, own.method
    if now_staffed:
        joined = replace(
            figures,
            agents_staffed=figures.agents_staffed + now_staffed,
            agents_idle=figures.agents_idle + now_idle,
        )
        best = predict_wait(joined, service, position)
        seconds, method = best.seconds, best.method
    # A ring opening later: its agents idle now are taken to be idle then (the estimate is redone as it waits).
    staffed_then, idle_then = figures.agents_staffed + now_staffed, figures.agents_idle + now_idle
    for opens_in, staffed, idle in sorted(later):
        staffed_then, idle_then = staffed_then + staffed, idle_then + idle
        then = predict_wait(
            replace(figures, agents_staffed=staffed_then, agents_idle=idle_then), service, position
        )
        if then.seconds is not None and (seconds is None or opens_in + then.seconds < seconds):
            seconds, method = opens_in + then.seconds, then.method
    return Prediction(
        seconds,
        f"{method}_with_lenders",
        {
            **own.figures,
            "own_agents": figures.agents_staffed,
            "own_idle": figures.agents_idle,
            "position": position,
            "lenders": published,
        },
    )


def _position_figures(agents: int, aht: float, position: int) -> dict[str, Any]:
    return {"agents": agents, "aht_seconds": round(aht, 1), "position": position}


def _erlang_figures(agents: int, aht: float, position: int, load: float, per_second: float) -> dict[str, Any]:
    return {
        **_position_figures(agents, aht, position),
        "load_erlangs": round(load, 3),
        "arrivals_per_hour": round(per_second * 3600, 1),
    }


def predicted_service_level(figures: QueueFigures, service: ServiceTerms, agents: int) -> float | None:
    """The service level the queue would reach with ``agents`` (None: no traffic to judge by)."""
    if figures.arrivals_per_second <= 0 and figures.waiting == 0:
        return None
    aht = figures.aht_seconds or service.default_aht_seconds
    if figures.waiting > agents:
        return 0.0  # a backlog larger than the team: callers at the back will wait past any threshold
    return service_level(
        agents, offered_load(figures.arrivals_per_second, aht), aht, service.sl_threshold_seconds
    )


# -- agreements: when they apply, and the lender's ring ------------------------------------------------


def gates(snapshot: Snapshot) -> list[Gate]:
    """For every lending agreement and each borrower service it covers: may the lender take calls now?"""
    out = []
    services = sorted(snapshot.services.items())
    for agreement in snapshot.agreements:
        if "widen" not in agreement.actions:
            continue
        protection: tuple[bool, Reason] | None = None  # the lender's, whichever borrower service: once
        for _key, service in services:
            if service.tenant == agreement.borrower and (
                agreement.services is None or service.code in agreement.services
            ):
                if protection is None:
                    protection = lender_protection(agreement, snapshot)
                out.append(_gate(agreement, service, snapshot, protection))
    return out


def gate_for(agreement: Agreement, service: ServiceTerms, snapshot: Snapshot) -> Gate:
    """Open when the agreement's window and conditions hold and the lender keeps its own service level."""
    return _gate(agreement, service, snapshot, lender_protection(agreement, snapshot))


def _gate(
    agreement: Agreement, service: ServiceTerms, snapshot: Snapshot, protection: tuple[bool, Reason]
) -> Gate:
    holds, why = agreement_applies_now(agreement, service, snapshot, waited=None)
    reasons = [Reason("agreement_conditions", s) for s in why]
    protected, reason = protection
    reasons.append(reason)
    caps = cap_reason(agreement, snapshot)
    if caps is not None:
        reasons.append(caps)
    return Gate(
        agreement.id,
        f"{service.tenant}/{service.code}",
        holds and protected and caps is None,
        tuple(reasons),
    )


def agreement_applies_now(
    agreement: Agreement, service: ServiceTerms, snapshot: Snapshot, *, waited: timedelta | None
) -> tuple[bool, list[str]]:
    """The agreement's window and every condition, each with the figure it compared (``waited`` None: skip)."""
    c = agreement.conditions
    # Only three conditions look at the borrower's queue: an agreement of hours or waits alone reads no figures.
    reads_queue = (
        c.queue_length_at_least is not None
        or c.predicted_wait_at_least_seconds is not None
        or c.borrower_service_level_at_risk
    )
    figures = _figures(snapshot, service.tenant, service.code) if reads_queue else NO_FIGURES  # (unread)
    why: list[str] = []
    ok = True
    # Each check: ``ok = _check(why, ok, passed, text)`` (a module function, not a closure made per call).
    if agreement.windows:
        inside, label = _windows_now(agreement.windows, agreement.timezone, snapshot.now)
        ok = _check(why, ok, inside, _hours_text(label, agreement.timezone))
    if c.out_of_borrower_hours:
        ok = _check(
            why, ok, not snapshot.open_now.get(agreement.borrower, True), f"{agreement.borrower} is closed"
        )
    if c.queue_length_at_least is not None:
        ok = _check(
            why,
            ok,
            figures.waiting >= c.queue_length_at_least,
            f"{figures.waiting} waiting ≥ {c.queue_length_at_least}",
        )
    if c.predicted_wait_at_least_seconds is not None:
        predicted = predict_wait(figures, service, figures.waiting + 1).seconds
        shown = "no agents" if predicted is None else f"{predicted:.0f} s"
        ok = _check(
            why,
            ok,
            predicted is None or predicted >= c.predicted_wait_at_least_seconds,
            f"predicted wait {shown} ≥ {c.predicted_wait_at_least_seconds:g} s",
        )
    if c.borrower_service_level_at_risk:
        at_risk, text = borrower_at_risk(figures, service)
        ok = _check(why, ok, at_risk, text)
    if c.waited_at_least_seconds is not None and waited is not None:
        ok = _check(
            why,
            ok,
            waited.total_seconds() >= c.waited_at_least_seconds,
            f"waited {waited.total_seconds():.0f} s ≥ {c.waited_at_least_seconds:g} s",
        )
    return ok, why


def _hours_text(label: str, timezone: str) -> str:
    """The hours condition's text, made once per minute of the week and zone (it was built for every gate)."""
    key = (label, timezone)
    text = _HOURS_TEXTS.get(key)
    if text is None:
        text = _HOURS_TEXTS[key] = f"within the agreement's hours ({label} {timezone})"
    return text


_HOURS_TEXTS: Final[dict[tuple[str, str], str]] = {}


def _check(why: list[str], ok: bool, passed: bool, text: str) -> bool:
    why.append(("" if passed else "not: ") + text)
    return ok and passed


def borrower_at_risk(figures: QueueFigures, service: ServiceTerms) -> tuple[bool, str]:
    """At risk: this interval is under target, the head waited past the threshold, or the forecast is short."""
    target = service.sl_target
    if figures.interval_service_level is not None and figures.interval_service_level < target:
        return True, f"service level this interval {figures.interval_service_level:.0%} < target {target:.0%}"
    if figures.waiting and figures.head_wait_seconds > service.sl_threshold_seconds:
        return (
            True,
            f"the first caller has waited {figures.head_wait_seconds:.0f} s > {service.sl_threshold_seconds} s",
        )
    predicted = predicted_service_level(figures, service, figures.agents_staffed)
    if predicted is not None and predicted < target:
        return True, f"predicted service level {predicted:.0%} < target {target:.0%}"
    return False, "service level on target"


def lender_protection(agreement: Agreement, snapshot: Snapshot) -> tuple[bool, Reason]:
    """The lender lends only while each of its own queues would stay on target with one agent fewer.

    Agents already busy with anyone's overflow are taken off its team first.
    """
    lender = agreement.lender
    lent = 0
    if snapshot.overflow_in_hand:
        lenders = _lenders_of(snapshot.agreements)
        for agreement_id, n in snapshot.overflow_in_hand.items():
            if lenders.get(agreement_id) == lender:
                lent += n
    worst: tuple[float, str, float] | None = None
    for key, service in snapshot.services.items():
        if service.tenant != lender:
            continue
        figures = snapshot.queues.get(key, NO_FIGURES)
        threshold = (
            agreement.lender_protection if agreement.lender_protection is not None else service.sl_target
        )
        agents = max(0, figures.agents_staffed - lent - 1)
        predicted = predicted_service_level(figures, service, agents)
        if predicted is not None and predicted < threshold and (worst is None or predicted < worst[0]):
            worst = (predicted, key, threshold)
    if worst is not None:
        return False, Reason.later("lender_protection", _lender_falls_reason, lender, lent, *worst)
    return True, Reason.later("lender_protection", _lender_stays_reason, lender, lent)


def _lender_falls_reason(
    lender: str, lent: int, predicted: float, key: str, threshold: float
) -> tuple[str, dict[str, Any]]:
    return f"not: {lender} would fall to {predicted:.0%} on {key} (needs {threshold:.0%})", {
        "lender": lender,
        "queue": key,
        "predicted_service_level": round(predicted, 3),
        "threshold": threshold,
        "lent_now": lent,
    }


def _lender_stays_reason(lender: str, lent: int) -> tuple[str, dict[str, Any]]:
    return f"{lender} stays on target with one agent fewer", {"lender": lender, "lent_now": lent}


def _lenders_of(agreements: Sequence[Agreement]) -> dict[str, str]:
    """Agreement id -> its lender (an id given twice: its first agreement). The last answer for a tuple is kept:
    the simulator passes the same tuple with every snapshot (the caller must not change the dict)."""
    global _last_lenders
    last = _last_lenders
    if last is not None and last[0] is agreements:
        return last[1]
    lenders: dict[str, str] = {}
    for a in agreements:
        lenders.setdefault(a.id, a.lender)
    if type(agreements) is tuple:  # only a tuple of frozen agreements cannot change under the kept answer
        _last_lenders = (agreements, lenders)  # one assignment: safe with a what-if in another thread
    return lenders


_last_lenders: tuple[Sequence[Agreement], dict[str, str]] | None = None


def cap_reason(agreement: Agreement, snapshot: Snapshot) -> Reason | None:
    """A reason when a cap is reached (the live state enforces caps atomically; this is for the trail)."""
    in_hand = snapshot.overflow_in_hand.get(agreement.id, 0)
    this_hour = snapshot.overflow_this_hour.get(agreement.id, 0)
    if agreement.max_concurrent is not None and in_hand >= agreement.max_concurrent:
        return Reason.later("cap", _cap_reason, in_hand, agreement.max_concurrent, "in hand", "in_hand")
    if agreement.max_per_hour is not None and this_hour >= agreement.max_per_hour:
        return Reason.later("cap", _cap_reason, this_hour, agreement.max_per_hour, "this hour", "this_hour")
    return None


def _cap_reason(count: int, cap: int, what: str, figure: str) -> tuple[str, dict[str, Any]]:
    return f"not: {count} {what} = cap {cap}", {figure: count}


def ring_opens_at(agreement: Agreement, queued_at: datetime, now: datetime) -> datetime:
    """The waited-at-least condition, and the agreement's next window if it is closed now."""
    opens = queued_at
    if agreement.conditions.waited_at_least_seconds is not None:
        opens = queued_at + timedelta(seconds=agreement.conditions.waited_at_least_seconds)
    window = next_window_start(agreement, max(opens, now))
    return max(opens, window) if window is not None else opens


def next_window_start(agreement: Agreement, moment: datetime) -> datetime | None:
    """``moment`` if a window is open then, else the next window start within a week (None: no windows)."""
    if not agreement.windows:
        return None
    timestamp = moment.timestamp()
    spans = _spans_of(agreement.windows)
    wall = _local_wall(agreement.timezone, timestamp) if spans is not None else None
    if spans is not None and wall is not None:
        if _inside(spans, wall):
            return moment
        return _next_start(agreement.windows, agreement.timezone, wall, moment.tzinfo)
    inside, local, _label = _windows_at_exactly(agreement.windows, agreement.timezone, timestamp)
    if inside:
        return moment
    starts = [s for s in _window_starts(agreement.windows, agreement.timezone, local.date()) if s > local]
    return min(starts).astimezone(moment.tzinfo) if starts else None


def _next_start(windows: tuple[Window, ...], timezone: str, wall: int, tz: tzinfo | None) -> datetime | None:
    """The first window start after the local wall clock ``wall`` (shut then), in ``tz``.

    The local day's starts and the week's after it, each with its wall-clock second: a start is later than the
    moment when its wall clock is (as two datetimes of the same zone compare). The answer holds from ``wall``
    until that start, so it is kept per windows for the arrivals that follow (the clock only moves on).
    """
    kept = _NEXT.get(id(windows))
    if kept is not None and kept[0] is windows and kept[1] == timezone and kept[2] <= wall < kept[3]:
        if kept[5] is tz:
            return kept[6]
        return kept[4].astimezone(tz)
    best: tuple[int, datetime] | None = None
    for w, start in _start_walls(windows, timezone, wall // 86400):
        if w > wall and (best is None or w < best[0]):  # the first of equal starts, as ``min`` picks
            best = (w, start)
    if best is None:
        return None
    found = best[1].astimezone(tz)
    if len(_NEXT) >= 256:
        _NEXT.clear()
    _NEXT[id(windows)] = (windows, timezone, wall, best[0], best[1], tz, found)
    return found


_NEXT: Final[dict[int, tuple[tuple[Window, ...], str, int, int, datetime, tzinfo | None, datetime]]] = {}


@lru_cache(maxsize=256)  # the same for every arrival of a day
def _window_starts(windows: tuple[Window, ...], timezone: str, first_day: date) -> tuple[datetime, ...]:
    """Every window start on ``first_day`` and the seven days after it, local."""
    zone = ZoneInfo(timezone)
    starts = []
    for days_ahead in range(8):
        day = first_day + timedelta(days=days_ahead)
        for window in windows:
            if day.weekday() in window.days:
                starts.append(datetime.combine(day, window.start, tzinfo=zone))
    return tuple(starts)


_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


def _start_walls(
    windows: tuple[Window, ...], timezone: str, first_day: int
) -> tuple[tuple[int, datetime], ...]:
    """``_window_starts`` for the local day ``first_day`` (days since 1970-01-01), each with its wall-clock
    second. Kept by the windows' identity: an agreement's windows live as long as it does, and hashing them
    (a frozen dataclass's ``__hash__`` per window) cost more than the lookup saved."""
    key = (id(windows), timezone, first_day)
    found = _STARTS.get(key)
    if found is not None and found[0] is windows:
        return found[1]
    day = date.fromordinal(first_day + _EPOCH_ORDINAL)
    walls = tuple(
        ((start.replace(tzinfo=None) - _EPOCH_NAIVE) // _SECOND, start)
        for start in _window_starts(windows, timezone, day)
    )
    if len(_STARTS) >= 256:
        _STARTS.clear()
    _STARTS[key] = (windows, walls)
    return walls


_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
_SECOND: Final = timedelta(seconds=1)
_STARTS: Final[dict[tuple[int, str, int], tuple[tuple[Window, ...], tuple[tuple[int, datetime], ...]]]] = {}


@lru_cache(maxsize=256)
def _skills_text(skills: frozenset[str]) -> str:
    return ", ".join(sorted(skills)) or "no particular skill"


def _windows_now(windows: tuple[Window, ...], timezone: str, now: datetime) -> tuple[bool, str]:
    """``_windows_at`` at ``now``, the last answer kept per windows while ``now`` is the same object: the tick asks
    for each borrower service of an agreement in turn, at one moment (kept by identity, as ``_start_walls``)."""
    kept = _WINDOWS_NOW.get(id(windows))
    if kept is not None and kept[0] is windows and kept[1] is now and kept[2] == timezone:
        return kept[3]
    found = _windows_at(windows, timezone, now.timestamp())
    if len(_WINDOWS_NOW) >= 256:
        _WINDOWS_NOW.clear()
    _WINDOWS_NOW[id(windows)] = (
        windows,
        now,
        timezone,
        found,
    )  # one assignment: safe with a what-if in a thread
    return found


_WINDOWS_NOW: Final[dict[int, tuple[tuple[Window, ...], datetime, str, tuple[bool, str]]]] = {}


def _windows_at(windows: tuple[Window, ...], timezone: str, timestamp: float) -> tuple[bool, str]:
    """Whether any window is open at that instant, and the local time then as the reasons show it.

    Worked out in whole seconds of the local wall clock (``_local_wall``) rather than a zoned ``datetime`` per
    call, which was most of a gate's cost; the same answer (``_windows_at_exactly`` where that cannot be shown).
    """
    spans = _spans_of(windows)
    wall = _local_wall(timezone, timestamp) if spans is not None else None
    if spans is None or wall is None:
        inside, _local, label = _windows_at_exactly(windows, timezone, timestamp)
        return inside, label
    day, second = divmod(wall, 86400)
    minute = ((day + 3) % 7, second // 3600, second % 3600 // 60)  # 1970-01-01 was a Thursday (3)
    found = _MINUTE_LABELS.get(minute)
    if found is None:
        found = _MINUTE_LABELS[minute] = datetime.fromtimestamp(timestamp, ZoneInfo(timezone)).strftime(
            "%a %H:%M"
        )
    return _inside(spans, wall), found


def _windows_at_exactly(
    windows: tuple[Window, ...], timezone: str, timestamp: float
) -> tuple[bool, datetime, str]:
    """``_windows_at`` through a zoned ``datetime``, and that local time."""
    local = datetime.fromtimestamp(timestamp, ZoneInfo(timezone))
    minute = (local.weekday(), local.hour, local.minute)
    label = _MINUTE_LABELS.get(minute)
    if label is None:  # ``strftime`` is most of the cost, and there are only 10,080 minutes in a week
        label = _MINUTE_LABELS[minute] = local.strftime("%a %H:%M")
    return any(w.contains(local) for w in windows), local, label


_MINUTE_LABELS: Final[dict[tuple[int, int, int], str]] = {}  # (weekday, hour, minute) -> "Mon 18:05"


def _inside(spans: tuple[tuple[frozenset[int], int, int], ...], wall: int) -> bool:
    """``Window.contains`` for the local wall clock ``wall`` (whole seconds since 1970-01-01 local)."""
    day, second = divmod(wall, 86400)
    weekday = (day + 3) % 7
    for days, start, end in spans:
        if start < end:
            if weekday in days and start <= second < end:
                return True
        elif second >= start:  # past midnight: before it, today's window; after it, yesterday's
            if weekday in days:
                return True
        elif second < end and (weekday - 1) % 7 in days:
            return True
    return False


def _spans_of(windows: tuple[Window, ...]) -> tuple[tuple[frozenset[int], int, int], ...] | None:
    """Each window as (days, start, end) in seconds of the local day; None when a bound has a fraction of a
    second (whole seconds are what ``_inside`` compares). Kept by the windows' identity (as ``_start_walls``)."""
    found = _SPANS.get(id(windows))
    if found is not None and found[0] is windows:
        return found[1]
    spans: tuple[tuple[frozenset[int], int, int], ...] | None = tuple(
        (w.days, _seconds_of_day(w.start), _seconds_of_day(w.end)) for w in windows
    )
    if any(w.start.microsecond or w.end.microsecond or w.start.tzinfo or w.end.tzinfo for w in windows):
        spans = None
    if len(_SPANS) >= 256:
        _SPANS.clear()
    _SPANS[id(windows)] = (windows, spans)
    return spans


def _seconds_of_day(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


_SPANS: Final[dict[int, tuple[tuple[Window, ...], tuple[tuple[frozenset[int], int, int], ...] | None]]] = {}


def _local_wall(timezone: str, timestamp: float) -> int | None:
    """The local wall clock at ``timestamp`` in whole seconds since 1970-01-01 (local), as
    ``datetime.fromtimestamp(timestamp, zone)`` reads it; None when that cannot be done in whole seconds: the
    zone's offset changes within that UTC hour (or has a fraction of a second), or the timestamp's fraction
    would round up to the next second at the microsecond (``fromtimestamp`` rounds half to even).

    The offset is found once per zone and UTC hour (at its first and last second; a zone's offset does not
    change twice within an hour), the last hour kept per zone: the simulator's and the live hub's clocks move on.
    """
    whole = math.floor(timestamp)
    if timestamp - whole >= 0.999999:
        return None
    hour = whole // 3600
    kept = _OFFSETS.get(timezone)
    if kept is None or kept[0] != hour:
        zone = ZoneInfo(timezone)
        first = datetime.fromtimestamp(hour * 3600, zone).utcoffset()
        last = datetime.fromtimestamp(hour * 3600 + 3599, zone).utcoffset()
        offset: int | None = None
        if first is not None and first == last and not first.microseconds:
            offset = first.days * 86400 + first.seconds
        kept = _OFFSETS[timezone] = (hour, offset)  # one assignment: safe with a what-if in another thread
    offset = kept[1]
    return None if offset is None else whole + offset


_OFFSETS: Final[dict[str, tuple[int, int | None]]] = {}  # zone -> (UTC hour, its offset in seconds or None)


def _prediction_text(prediction: Prediction) -> str:
    if prediction.seconds is None:
        return "nobody with the skills is signed in"
    return f"about {prediction.seconds:.0f} s ({prediction.method.replace('_', ' ')})"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
