"""The discrete-event engine: a heap of timed events on a simulated clock, driving the live policy and state.

Nothing here decides where a contact goes. Each arrival is put to ``routing.policy.decide`` and placed with the
live router's own ``placement`` (``routing.dispatch.placing``); agents are matched by ``MemoryLiveState`` (the in-memory live state, which
passes the same contract suite as Redis); lenders' gates come from ``routing.policy.gates`` on a tick, as in
the live dispatcher. The engine only keeps the clock, draws the random numbers and writes down what happened.

The live state's operations are coroutines that never await; the engine calls the plain methods inside them
(``MemoryLiveState.*_sync``), as neither an event loop nor a coroutine per operation is needed here.

``decide`` and ``gates`` come from ``routing.policy.decide`` itself: compiled (``plumbing/compiled.py``), the
package's attribute ``decide`` may be the module of that name rather than the function.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from routing.dispatch.eligibility import queues_for_agent
from routing.dispatch.placing import ROLLING_SECONDS, gate_map, placement, rolling_figures
from routing.dispatch.router import _utc_offset_ms, terms_of_agreement, terms_of_service
from routing.live.base import DEFERRABLE_CHANNELS, HOUR_MS, Caps, Offer, base_queue_of, enqueued_ms_of
from routing.live.memory import MemoryLiveState
from routing.policy.decide import decide, gates
from routing.policy.model import Decision, EnquiryFacts, Gate, QueueFigures, ServiceTerms, Snapshot
from routing.policy.proficiency import skill_rank
from tenants.agreements.terms import DAYS
from tenants.catalogue import Catalogue, ServiceInfo, TenantInfo
from tenants.service_routing import ServiceRouting
from whatif.scenario import Arrivals, Distribution, Scenario, ScenarioFile, real_services

TTL_MS: Final = 10**12  # offers are accepted at once in the simulation: they never expire
NEVER: Final = math.inf

# Event kinds, in the order they run when they fall on the same millisecond: agents free up and shifts
# change before new callers arrive, so a caller never waits behind an agent who is about to be idle.
FINISH: Final = 0
SHIFT: Final = 1
RING: Final = 2
TICK: Final = 3
ABANDON: Final = 4
ARRIVE: Final = 5
# An agreement's zone changes its offset from UTC (the clocks change): its caps are sent again first of all, so
# the hourly cap counts the agreement's local clock hour, as the live dispatcher's tick does.
CLOCKS: Final = -1
# Module functions as finals: compiled, a final is a static read, a module attribute a dictionary lookup per call.
_heappush: Final = heapq.heappush
_heappop: Final = heapq.heappop
# What a snapshot has none of here (opening hours, agents by skill, lenders' agents in rings): one empty mapping
# that cannot change, rather than three new dictionaries per decision.
_NOTHING: Final[Mapping[Any, Any]] = MappingProxyType({})


@dataclass(slots=True, init=False)
class Contact:
    """One simulated contact; times in milliseconds from the start of the period."""

    id: int
    owner: str
    service: str
    channel: str
    arrival_ms: int
    handle_ms: int
    patience_ms: float  # NEVER: the caller waits however long it takes
    answered_ms: int | None
    abandoned_ms: int | None
    completed_ms: int | None
    handler: str | None
    callback: bool
    voicemail: bool

    def __init__(
        self,
        id: int,
        owner: str,
        service: str,
        channel: str,
        arrival_ms: int,
        handle_ms: int,
        patience_ms: float,
        answered_ms: int | None = None,
        abandoned_ms: int | None = None,
        completed_ms: int | None = None,
        handler: str | None = None,
        callback: bool = False,
        voicemail: bool = False,
    ) -> None:
        # The dataclass's own ``__init__`` (the same parameters) stays Python when compiled: one per contact.
        self.id, self.owner, self.service, self.channel = id, owner, service, channel
        self.arrival_ms, self.handle_ms, self.patience_ms = arrival_ms, handle_ms, patience_ms
        self.answered_ms, self.abandoned_ms, self.completed_ms = answered_ms, abandoned_ms, completed_ms
        self.handler, self.callback, self.voicemail = handler, callback, voicemail


@dataclass(slots=True)
class _Agent:
    id: str
    tenant: str
    skills: frozenset[str]
    queues: list[str]
    on_shift: bool = False
    busy_with: int | None = None
    on_ms: int = 0  # when the current shift stretch started
    staffs: list[str] = field(default_factory=list)  # the services it counts as staffed for while on shift
    shift_ms: int = 0  # time on shift so far
    busy_ms: int = 0  # time handling so far
    # Proficiency: its rank in each queue of a service that prefers the best-skilled (None: no such queue),
    # and its handle time against the drawn one.
    ranks: dict[str, int] | None = None
    handle_factor: float = 1.0
    # Blended work (the scenario's ``blending:``): web forms and emails it may hold at once; what it holds (id ->
    # when it finishes) and what waits parked behind a live contact (id -> handling time left).
    capacity: int = 1
    hand: dict[int, int] = field(default_factory=dict)
    parked: dict[int, int] = field(default_factory=dict)
    busy_since: int = 0


@dataclass
class Outcome:
    """What happened: every contact, and each partner's agent time (for occupancy)."""

    scenario: Scenario
    start: datetime
    contacts: list[Contact]
    agent_time: dict[str, tuple[int, int]]  # tenant -> (busy ms, on-shift ms)
    events: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Draw:
    """Durations in milliseconds from the scenario's distributions."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, d: Distribution | None) -> float:
        return NEVER if d is None else draw_ms(self.rng, d.distribution, d.mean_seconds, d.sigma)


def draw_ms(rng: random.Random, distribution: str, mean_seconds: float, sigma: float) -> float:
    """One duration in milliseconds: ``Draw``'s, from a distribution's fields (read once per stream, not per
    contact, by the Poisson arrivals)."""
    if distribution == "fixed":
        return mean_seconds * 1000
    if distribution == "exponential":
        return exponential(rng, 1.0 / mean_seconds) * 1000
    # Lognormal with the given mean: mu chosen so that exp(mu + sigma²/2) is the mean.
    mu = math.log(mean_seconds) - sigma**2 / 2
    return rng.lognormvariate(mu, sigma) * 1000


class _Stream:
    """One arrivals stream's fields as the Poisson arrivals read them per contact: the scenario's pydantic models
    were a generic attribute look-up each (a dozen per contact)."""

    def __init__(self, arrivals: Arrivals, spec: ScenarioFile) -> None:
        self.partner, self.service, self.channel = arrivals.partner, arrivals.service, arrivals.channel
        handle = arrivals.handle_time or spec.handle_time
        self.handle: tuple[str, float, float] = (handle.distribution, handle.mean_seconds, handle.sigma)
        patience = arrivals.patience or spec.patience
        self.patient = patience is None  # callers never hang up: ``patience`` is then never drawn
        self.patience: tuple[str, float, float] = ("fixed", 0.0, 0.0)
        if patience is not None:
            self.patience = (patience.distribution, patience.mean_seconds, patience.sigma)


def exponential(rng: random.Random, rate: float) -> float:
    """``rng.expovariate(rate)``: its formula on the same draw, so the same number, without a call into
    random.py's Python code (three per contact, the arrival gap, handle time and patience)."""
    return -math.log(1.0 - rng.random()) / rate


def catalogue_of(scenario: Scenario) -> Catalogue:
    """The scenario's partners as the live catalogue type, so the live eligibility code can read them."""
    tenants: dict[str, TenantInfo] = {}
    for i, s in enumerate(real_services(scenario.services).values()):
        info = ServiceInfo(
            id=i + 1,
            tenant=s.tenant,
            code=s.code,
            name=s.code,
            skills=s.skills,
            priority=s.priority,
            sl_threshold_seconds=s.threshold_seconds,
            sl_target=s.target,
            required_fields=(),
            routing=ServiceRouting(
                callbacks=s.callbacks,
                callback_after_seconds=s.callback_after_seconds,
                expected_handle_seconds=max(1, round(s.expected_handle_seconds)),
                agent_choice="best_skilled" if s.agent_choice == "best_skilled" else "longest_idle",
            ),
        )
        tenant = tenants.setdefault(s.tenant, TenantInfo(s.tenant, s.tenant, "partner"))
        tenant.services[s.code] = info
    for slug in scenario.tenants:
        tenants.setdefault(slug, TenantInfo(slug, slug, "pool"))
    return Catalogue(tenants)


ArrivalSource = Iterator[Contact]


class _LiveFigures(Mapping[str, QueueFigures]):
    """``Snapshot.queues`` for one decision: each of ``keys``' figures is read when first asked for."""

    __slots__ = ("_abs_now", "_key_set", "_keys", "_read", "_read_already")

    def __init__(
        self, read: Callable[[str, int], QueueFigures], keys: list[str], key_set: frozenset[str], abs_now: int
    ) -> None:
        self._read, self._keys, self._key_set, self._abs_now = read, keys, key_set, abs_now
        self._read_already: dict[str, QueueFigures] = {}

    def __getitem__(self, key: str) -> QueueFigures:
        figures = self._read_already.get(key)
        if figures is None:
            if key not in self._key_set:
                raise KeyError(key)
            figures = self._read_already[key] = self._read(key, self._abs_now)
        return figures

    def get(self, key: str, default: Any = None) -> Any:
        figures = self._read_already.get(key)
        if figures is None:
            if key not in self._key_set:
                return default
            figures = self._read_already[key] = self._read(key, self._abs_now)
        return figures

    def __contains__(self, key: object) -> bool:
        return key in self._key_set

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class Engine:
    def __init__(self, scenario: Scenario, *, seed: int | None = None) -> None:
        self.scenario = scenario
        spec = scenario.spec
        self.rng = random.Random(spec.seed if seed is None else seed)
        self.draw = Draw(self.rng)
        self.start = scenario.start
        self.start_ms = int(self.start.timestamp() * 1000)
        self.end_ms = int((scenario.end - self.start).total_seconds() * 1000)
        self.zone = ZoneInfo(spec.timezone)
        self.live = MemoryLiveState()
        # The policy's two entry points, as attributes so that a check can watch every decision and gate
        # (bench/simulate.py's fingerprint); the same functions the live router calls.
        self.decide: Callable[[EnquiryFacts, ServiceTerms, Snapshot], Decision] = decide
        self.gates: Callable[[Snapshot], list[Gate]] = gates
        self.catalogue = catalogue_of(scenario)
        self.agreements = [terms_of_agreement(a) for a in spec.agreements]
        self.terms: dict[str, ServiceTerms] = {
            key: terms_of_service(info)
            for t in self.catalogue.tenants.values()
            for key, info in ((f"{t.slug}/{c}", i) for c, i in t.services.items())
        }
        self.contacts: list[Contact] = []
        self.agents: dict[str, _Agent] = {}
        self.heap: list[tuple[int, int, int, Any]] = []
        self.seq = 0
        self._keys = sorted(self.terms)
        self._state_names = [n for q in self._keys for n in (q, q + "+text")]
        self._rolling: dict[str, tuple[float, float | None, float | None]] = {}
        self._rolling_at: dict[str, int] = {}
        # owner -> the earliest moment any of its queues' rolling figures may be stale
        self._refresh_due: dict[str | None, float] = {}
        self._text_of = {q: q + "+text" for q in self._keys}
        self._agreements = tuple(self.agreements)
        self._rates: dict[tuple[int, int], float] = {}  # (stream, interval) -> arrivals per ms
        self._counts_at = -(10**15)
        self._counts: list[tuple[int, int]] = []
        self._counts_version = -1  # the live state's ``overflow_version`` when they were read
        self._counts_until = 0  # and the first moment (epoch ms) after that at which an hour turned
        self._agreement_ids = [a.id for a in self.agreements]
        self._owner_keys: dict[str | None, tuple[list[str], frozenset[str], dict[str, ServiceTerms]]] = {}
        self._in_hand: dict[str, int] = {}
        self._this_hour: dict[str, int] = {}
        self._staffed: dict[str, int] = {}
        self.widening = any("widen" in a.actions for a in self.agreements)
        self.blending = spec.blending
        # "tenant/service" -> the skills it needs, for the services that prefer the best-skilled agent.
        self._best_skilled = {
            key: s.skills
            for key, s in real_services(scenario.services).items()
            if s.agent_choice == "best_skilled"
        }
        self._gate_ms = int(spec.gate_seconds * 1000)
        self._tick_pending = False
        self._last_tick = -(10**15)
        # A gate matters only to callers already in a lender's ring (and to arrivals, which catch up).
        self._ring_queues = [
            f"{n}@{a.id}"
            for a in self.agreements
            if "widen" in a.actions
            for k in self._keys
            if self.terms[k].tenant == a.borrower
            for n in (k, k + "+text")
        ]

    # -- the clock ----------------------------------------------------------------------------------------

    def push(self, at_ms: int, kind: int, payload: Any) -> None:
        self.seq += 1
        _heappush(self.heap, (at_ms, kind, self.seq, payload))

    def abs_ms(self, rel_ms: int) -> int:
        return self.start_ms + rel_ms

    def when(self, rel_ms: int) -> datetime:
        # ``timedelta(milliseconds=rel_ms)`` by its positional parts: the same value, a third quicker to build.
        return self.start + timedelta(0, rel_ms // 1000, rel_ms % 1000 * 1000)

    # -- set-up: rotas as shift events, arrivals as a lazy stream ------------------------------------------

    def _plan_shifts(self) -> None:
        """One agent id per rota seat; on and off events at each shift's edges, day by day, in local time."""
        spec = self.scenario.spec
        day = self.start.astimezone(self.zone).date()
        last = self.scenario.end.astimezone(self.zone).date()
        while day <= last:
            for i, shift in enumerate(spec.rotas):
                if DAYS[day.weekday()] not in shift.days:
                    continue
                on = datetime.combine(day, shift.from_, self.zone)
                off = datetime.combine(day, shift.to, self.zone)
                on_ms = max(0, self._rel(on))
                off_ms = min(self.end_ms, self._rel(off))
                if off_ms <= on_ms:
                    continue
                for seat in range(shift.agents):
                    agent_id = f"{shift.partner}~{i}~{seat}"
                    if agent_id not in self.agents:
                        skills = frozenset(shift.skills)
                        agent = self.agents[agent_id] = _Agent(
                            agent_id,
                            shift.partner,
                            skills,
                            queues_for_agent(self.catalogue, self.agreements, shift.partner, skills),
                        )
                        agent.staffs = self._staff_keys(agent)
                        self._profile(agent, shift)
                    self.push(on_ms, SHIFT, (agent_id, True))
                    self.push(off_ms, SHIFT, (agent_id, False))
            day += timedelta(days=1)

    def _profile(self, agent: _Agent, shift: Any) -> None:
        """Its proficiency and blending, from its rota line, as the dispatcher ranks a live agent (``_ranks``)."""
        agent.handle_factor = shift.handle_factor
        if self._best_skilled:
            agent.ranks = {
                queue: skill_rank(required, shift.proficiency)
                for queue in agent.queues
                if (required := self._best_skilled.get(base_queue_of(queue))) is not None
            } or None
        if self.blending is not None:
            agent.capacity = self.blending.partners.get(agent.tenant, self.blending.deferrable_at_once)

    def _rel(self, moment: datetime) -> int:
        return int((moment.timestamp() * 1000) - self.start_ms)

    def poisson(self) -> Iterator[Contact]:
        """Arrivals for every stream, merged in time order (a stream's rate is constant within an interval)."""
        spec = self.scenario.spec
        interval_ms = spec.interval_minutes * 60_000
        streams: list[tuple[int, int, Any]] = []
        for i, a in enumerate(spec.arrivals):
            streams.append((0, i, a))
        # Each stream walks interval by interval; within one, gaps are exponential at that interval's rate.
        heads: list[tuple[float, int]] = []
        state: dict[int, tuple[int, float]] = {}  # stream -> (interval index, time of its last arrival)
        for _t, i, _a in streams:
            t = self._next_arrival(i, 0.0, interval_ms)
            if t is not None:
                heads.append((t, i))
        heapq.heapify(heads)
        del state
        next_id = 0
        rng = self.rng
        fields = [_Stream(a, spec) for a in spec.arrivals]
        while heads:
            t, i = _heappop(heads)
            f = fields[i]
            next_id += 1
            handle, patience = f.handle, f.patience
            yield Contact(
                next_id,
                f.partner,
                f.service,
                f.channel,
                int(t),
                max(1, int(draw_ms(rng, handle[0], handle[1], handle[2]))),
                NEVER if f.patient else draw_ms(rng, patience[0], patience[1], patience[2]),
            )
            n = self._next_arrival(i, t, interval_ms)
            if n is not None:
                _heappush(heads, (n, i))

    def _next_arrival(self, stream: int, after: float, interval_ms: int) -> float | None:
        t = after
        while t < self.end_ms:
            k = int(t // interval_ms)
            edge = (k + 1) * interval_ms
            rate = self._rate(stream, k, interval_ms)  # arrivals per ms
            if rate > 0:
                t += exponential(self.rng, rate)
                if t < edge:
                    return t if t < self.end_ms else None
            # Memoryless: no arrival before the interval's edge, so start afresh there at the next rate.
            t = float(edge)
        return None

    def _rate(self, stream: int, k: int, interval_ms: int) -> float:
        rate = self._rates.get((stream, k))
        if rate is None:
            a = self.scenario.spec.arrivals[stream]
            rate = self._rates[(stream, k)] = self._rate_now(a, k, interval_ms)
        return rate

    def _rate_now(self, a: Any, k: int, interval_ms: int) -> float:
        local = self.when(k * interval_ms).astimezone(self.zone)
        if DAYS[local.weekday()] not in a.days:
            return 0.0
        clock = local.time()
        if not (a.from_ <= clock < a.to):
            return 0.0
        rates = a.per_interval if isinstance(a.per_interval, list) else None
        if rates is None:
            per = float(a.per_interval)
        else:
            start = datetime.combine(local.date(), a.from_, self.zone)
            index = int((local - start).total_seconds() // (interval_ms / 1000))
            per = rates[index] if index < len(rates) else 0.0
        return per / interval_ms

    # -- the policy's inputs ------------------------------------------------------------------------------

    def snapshot(self, now_ms: int, owner: str | None = None, moment: datetime | None = None) -> Snapshot:
        # ``owner``: a "tenant/service" queue being decided for, or ``_GATES`` for the tick.
        """Figures as the live router builds them (``Router.snapshot``), from this engine's live state.

        Queue depths and idle agents are read at every decision; the rolling figures (arrival rate, handle
        time, this interval's service level) are half-hour aggregates, so they are re-read only every
        ``snapshot_seconds`` of simulated time: re-reading them per arrival was most of the run time.
        A queue's figures are read when the policy first asks for them (``_LiveFigures``): the live state
        does not change while it decides, so that is what it would have read up front.
        """
        live = self.live
        abs_now = self.abs_ms(now_ms)
        # A decision for one owner reads only its own queues and its lenders' (``decide``, ``gate_for``).
        wanted, wanted_set, services = self._keys_for(owner)
        if now_ms >= self._refresh_due.get(owner, -NEVER):
            refresh_ms = self.scenario.spec.snapshot_seconds * 1000
            stale = [q for q in wanted if now_ms - self._rolling_at.get(q, -(10**15)) >= refresh_ms]
            if stale:
                buckets = live.read_stats_sync(stale, abs_now - ROLLING_SECONDS * 1000, abs_now)
                for q in stale:
                    self._rolling[q] = rolling_figures(buckets[q], abs_now)
                    self._rolling_at[q] = now_ms
            # Nothing of these goes stale before the oldest of them is ``refresh_ms`` old (re-reads by other
            # owners' decisions only make that later).
            self._refresh_due[owner] = min(self._rolling_at[q] for q in wanted) + refresh_ms
        if self.agreements and now_ms - self._counts_at >= 1000:
            # Caps are enforced by the live state itself; these counts only feed the reasons' figures. Read
            # again only when they may differ: something was taken or let go since, or a local hour turned.
            if live.overflow_version != self._counts_version or abs_now >= self._counts_until:
                counts = [live.overflow_count_sync(a.id, abs_now) for a in self.agreements]
                self._counts_version = live.overflow_version
                self._counts_until = live.overflow_hour_ends_sync(self._agreement_ids, abs_now)
                if counts != self._counts:  # mostly they are as they were a second ago
                    self._counts = counts
                    self._in_hand = {a.id: n for a, (n, _hour) in zip(self.agreements, counts, strict=True)}
                    self._this_hour = {a.id: n for a, (_hand, n) in zip(self.agreements, counts, strict=True)}
            self._counts_at = now_ms
        return Snapshot(
            now=moment or self.when(now_ms),
            queues=_LiveFigures(self._figures, wanted, wanted_set, abs_now),
            services=services,
            open_now=_NOTHING,  # opening hours are not modelled: the rotas say who is there
            agents=_NOTHING,
            agreements=self._agreements,
            overflow_in_hand=self._in_hand if self.agreements else {},
            overflow_this_hour=self._this_hour if self.agreements else {},
            ring_agents=_NOTHING,
        )

    def _figures(self, q: str, abs_now: int) -> QueueFigures:
        """One queue's figures now, as ``Router.snapshot`` makes them."""
        voice_waiting, voice_head, idle = self.live.queue_state_sync(q)
        text_waiting, text_head = self.live.queue_head_sync(self._text_of[q])  # (its idle agents: not read)
        if voice_head is None:
            head = text_head
        else:
            head = voice_head if text_head is None else min(voice_head, text_head)
        head_wait = max(0.0, (abs_now - enqueued_ms_of(head)) / 1000) if head is not None else 0.0
        rolling = self._rolling[q]
        # Built afresh each time: a native class since the seventh round, cheaper to build than to look up again.
        return QueueFigures(
            voice_waiting + text_waiting,
            head_wait,
            rolling[0],
            rolling[1],
            self._staffed.get(q, 0),
            idle,
            rolling[2],
        )

    _GATES = "*gates*"  # the key set the tick needs: every borrower's and lender's queues

    def _keys_for(self, owner: str | None) -> tuple[list[str], frozenset[str], dict[str, ServiceTerms]]:
        """The queues (and their services' terms) a decision for ``owner`` reads: the policy looks at no others,
        so a snapshot need not list them (``lender_protection`` walks the services it is given)."""
        found = self._owner_keys.get(owner)
        if found is None:
            widening = [a for a in self.agreements if "widen" in a.actions]
            if owner is None:
                keys = self._keys
            elif owner == self._GATES:
                tenants = {t for a in widening for t in (a.lender, a.borrower)}
                keys = [k for k in self._keys if self.terms[k].tenant in tenants]
            else:
                # ``decide`` reads its own queue's figures, and every lender's queues for lender protection.
                tenant = self.terms[owner].tenant
                lenders = {a.lender for a in self.agreements if a.borrower == tenant}
                keys = [k for k in self._keys if k == owner or self.terms[k].tenant in lenders]
            found = self._owner_keys[owner] = (keys, frozenset(keys), {k: self.terms[k] for k in keys})
        return found

    def _staff_keys(self, agent: _Agent) -> list[str]:
        """The services an agent counts as staffed for: its partner's, with every skill they need."""
        return [
            key
            for key, terms in self.terms.items()
            if terms.tenant == agent.tenant and terms.skills <= agent.skills
        ]

    # -- running ------------------------------------------------------------------------------------------

    def run(
        self,
        arrivals: ArrivalSource | None = None,
        progress: Callable[[int, int], None] | None = None,
        progress_every: int = 1 << 14,
    ) -> Outcome:
        """Every event in time order; ``progress(contacts so far, simulated ms)`` every ``progress_every`` events."""
        import time as wall

        began = wall.perf_counter()
        live = self.live
        live.configure_caps_sync(self._caps_at(0))
        for at in self._clock_changes():
            self.push(at, CLOCKS, None)
        self._plan_shifts()
        source = arrivals if arrivals is not None else self.poisson()
        first = next(source, None)
        if first is not None:
            self.push(first.arrival_ms, ARRIVE, first)
        if self.widening:
            self.push(0, TICK, None)
            self._tick_pending = True
        heap, pop = self.heap, _heappop
        events = 0
        report_every = max(1, progress_every)
        while heap:
            now, kind, _seq, payload = pop(heap)
            events += 1
            if kind == ARRIVE:
                self._arrive(payload, now)
                following = next(source, None)
                if following is not None:
                    self.push(following.arrival_ms, ARRIVE, following)
            elif kind == FINISH:
                self._finish(payload, now)
            elif kind == ABANDON:
                self._abandon(payload, now)
            elif kind == RING:
                self._catch_up_gates(now)  # ``open_due`` reads the gates of the rings it opens
                for offer in live.open_due_sync(self.abs_ms(now), TTL_MS):
                    self._start(offer, now)
                if self._waiting_for_lenders():
                    self._schedule_tick(now)
            elif kind == SHIFT:
                self._shift(payload[0], payload[1], now)
            elif kind == TICK:
                self._tick_pending = False
                self._tick(now)
                if self._waiting_for_lenders():
                    self._schedule_tick(now)
            elif kind == CLOCKS:
                live.configure_caps_sync(self._caps_at(now))
            if progress is not None and not events % report_every:
                progress(len(self.contacts), min(now, self.end_ms))
        for agent in self.agents.values():
            if agent.on_shift:  # shifts still running at the end of the period (e.g. a replayed tail)
                agent.shift_ms += max(0, self.end_ms - agent.on_ms)
        agent_time: dict[str, tuple[int, int]] = {}
        for agent in self.agents.values():
            busy, shift = agent_time.get(agent.tenant, (0, 0))
            agent_time[agent.tenant] = (busy + agent.busy_ms, shift + agent.shift_ms)
        if progress is not None:
            progress(len(self.contacts), self.end_ms)
        return Outcome(
            self.scenario, self.start, self.contacts, agent_time, events, wall.perf_counter() - began
        )

    def _caps_at(self, now: int) -> dict[str, Caps]:
        """Each agreement's caps with its zone's offset from UTC at ``now`` (``Router.configure_caps``)."""
        moment = self.when(now)
        return {
            a.id: Caps(a.max_per_hour, a.max_concurrent, _utc_offset_ms(a.timezone, moment))
            for a in self.agreements
        }

    def _clock_changes(self) -> list[int]:
        """The moments within the period (ms from its start) at which an agreement's zone changes its offset:
        found hour by hour, then to the second."""
        found: set[int] = set()
        for zone in {a.timezone for a in self.agreements if a.max_per_hour is not None}:
            before = _utc_offset_ms(zone, self.when(0))
            for hour in range(HOUR_MS, self.end_ms + HOUR_MS, HOUR_MS):
                at = min(hour, self.end_ms)
                offset = _utc_offset_ms(zone, self.when(at))
                if offset != before:
                    low, high = at - HOUR_MS, at  # the offset was ``before`` at low and is ``offset`` at high
                    while high - low > 1000:
                        middle = (low + high) // 2
                        if _utc_offset_ms(zone, self.when(middle)) == before:
                            low = middle
                        else:
                            high = middle
                    found.add(high)
                    before = offset
        return sorted(found)

    def _schedule_tick(self, after: int) -> None:
        if not self._tick_pending and after + self._gate_ms < self.end_ms:
            self.push(after + self._gate_ms, TICK, None)
            self._tick_pending = True

    def _waiting_for_lenders(self) -> bool:
        waiting = self.live.waiting_sync
        return any(waiting(q) for q in self._ring_queues)

    def _catch_up_gates(self, now: int) -> None:
        """The live dispatcher ticks every few seconds for ever; here the tick runs only while a borrower's
        caller waits in a lender's ring, and catches up just before the live state is next asked about a gate
        (an arrival whose ring is open at once, a ring opening): the gates a caller meets are never older than
        ``gate_seconds``, as live, without ticking through the hours when no gate is looked at."""
        if now - self._last_tick >= self._gate_ms:
            self._tick(now)

    def _arrive(self, c: Contact, now: int) -> None:
        self.contacts.append(c)
        key = f"{c.owner}/{c.service}"
        terms = self.terms[key]
        abs_now = self.abs_ms(now)
        moment = self.when(now)
        facts = EnquiryFacts(c.id, c.owner, c.service, c.channel, terms.priority, moment)
        decision = self.decide(facts, terms, self.snapshot(now, key, moment))
        live = self.live
        live.count_sync(key, abs_now, "arrivals", 1)
        if decision.action == "voicemail" or decision.action == "next_opening":
            # A message left for later, or a visitor told when the desk opens: never queued for an agent, so it
            # counts as a short abandon.
            c.voicemail = decision.action == "voicemail"
            c.abandoned_ms = now
            return
        if decision.action == "offer_callback":
            c.callback = True  # the caller keeps their place but no longer hangs up
            c.patience_ms = NEVER
        entry = placement(facts, decision)  # ``Router.placement``: the same function, compiled here
        if entry.rings and any(r.opens_ms <= abs_now for r in entry.rings):
            self._catch_up_gates(now)  # ``enqueue`` reads the gate of a ring open now
        # The live router works in epoch milliseconds; so does this engine's live state.
        offer = live.enqueue_sync(entry, now_ms=abs_now, ttl_ms=TTL_MS)
        if offer is not None:
            self._start(offer, now)
            return
        for ring in entry.rings:
            if ring.opens_ms > abs_now:
                self.push(ring.opens_ms - self.start_ms, RING, None)
        if entry.rings:
            self._schedule_tick(min(max(now, r.opens_ms - self.start_ms) for r in entry.rings))
        if c.patience_ms != NEVER:
            self.push(now + int(c.patience_ms), ABANDON, c)

    def _start(self, offer: Offer, now: int) -> None:
        """The offer is accepted at once: the agent starts handling."""
        live = self.live
        live.accept_sync(offer.agent_id, offer.enquiry_id)
        c = self.contacts[offer.enquiry_id - 1]
        agent = self.agents[offer.agent_id]
        if agent.handle_factor != 1.0:
            c.handle_ms = max(1, round(c.handle_ms * agent.handle_factor))
        c.answered_ms, c.handler = now, agent.tenant
        key = base_queue_of(offer.queue)
        within = now - c.arrival_ms <= self.terms[key].sl_threshold_seconds * 1000
        live.count_sync(key, self.abs_ms(now), "answered", 1, "answered_within", int(within))
        if self.blending is not None:
            self._blend_start(agent, c, now)
            return
        agent.busy_with = c.id
        self.push(now + c.handle_ms, FINISH, (agent, c))

    # -- blended work (the scenario's ``blending:``), as the live desk does it ---------------------------------

    def _blend_start(self, agent: _Agent, c: Contact, now: int) -> None:
        """A web form or email joins the others in hand (and the agent may take more, or a call); a live contact
        parks them all until it ends (``enquiry.parked``)."""
        if not agent.hand:
            agent.busy_since = now
        if c.channel in DEFERRABLE_CHANNELS:
            agent.hand[c.id] = now + c.handle_ms
            self.push(now + c.handle_ms, FINISH, (agent, c))
            if agent.on_shift:
                self._ready(agent, now)  # room for another, or a live contact at once
            return
        for other, due in agent.hand.items():
            agent.parked[other] = due - now
        agent.hand.clear()  # their finishing events go stale: they finish later, once resumed
        agent.busy_with = c.id
        agent.hand[c.id] = now + c.handle_ms
        self.push(now + c.handle_ms, FINISH, (agent, c))

    def _blend_finish(self, agent: _Agent, c: Contact, now: int) -> None:
        if agent.hand.get(c.id) != now:
            return  # parked meanwhile: it finishes later
        del agent.hand[c.id]
        self.live.finish_sync(agent.id, c.id)
        c.completed_ms = now
        self.live.count_sync(
            f"{c.owner}/{c.service}", self.abs_ms(now), "handled", 1, "handle_ms", c.handle_ms
        )
        if agent.busy_with == c.id:  # the live contact ended: what it parked resumes (``enquiry.resumed``)
            agent.busy_with = None
            for other, left in agent.parked.items():
                agent.hand[other] = now + left
                self.push(now + left, FINISH, (agent, self.contacts[other - 1]))
            agent.parked.clear()
        if not agent.hand:
            agent.busy_ms += now - agent.busy_since
        if agent.on_shift:
            self._ready(agent, now)

    def _finish(self, payload: tuple[_Agent, Contact], now: int) -> None:
        agent, c = payload
        if self.blending is not None:
            self._blend_finish(agent, c, now)
            return
        live = self.live
        live.finish_sync(agent.id, c.id)
        c.completed_ms = now
        agent.busy_with = None
        agent.busy_ms += c.handle_ms
        live.count_sync(f"{c.owner}/{c.service}", self.abs_ms(now), "handled", 1, "handle_ms", c.handle_ms)
        if agent.on_shift:
            self._ready(agent, now)

    def _ready(self, agent: _Agent, now: int) -> None:
        offer = self.live.agent_ready_sync(
            agent.id,
            agent.queues,
            now_ms=self.abs_ms(now),
            ttl_ms=TTL_MS,
            text_capacity=agent.capacity,
            ranks=agent.ranks,
        )
        if offer is not None:
            self._start(offer, now)

    def _abandon(self, c: Contact, now: int) -> None:
        if c.answered_ms is not None:
            return
        if self.live.withdraw_sync(c.id) is True:
            c.abandoned_ms = now
            if now - c.arrival_ms >= 5000:
                self.live.count_sync(f"{c.owner}/{c.service}", self.abs_ms(now), "abandoned", 1)

    def _shift(self, agent_id: str, on: bool, now: int) -> None:
        agent = self.agents[agent_id]
        if on == agent.on_shift:
            return
        agent.on_shift = on
        if on:
            agent.on_ms = now
            for key in agent.staffs:
                self._staffed[key] = self._staffed.get(key, 0) + 1
            if agent.busy_with is None:
                self._ready(agent, now)
        else:
            agent.shift_ms += now - agent.on_ms
            for key in agent.staffs:
                self._staffed[key] -= 1
            # A busy agent finishes the contact in hand, then goes (``_finish`` does not ready them again).
            self.live.agent_away_sync(agent_id)

    def _tick(self, now: int) -> None:
        """Lenders' gates, as the live dispatcher's tick refreshes them."""
        self._last_tick = now
        gate_list = self.gates(self.snapshot(now, owner=self._GATES))
        if gate_list:
            for offer in self.live.set_gates_sync(
                gate_map(gate_list), now_ms=self.abs_ms(now), ttl_ms=TTL_MS
            ):
                self._start(offer, now)
