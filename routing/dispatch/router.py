"""Routing in the live hub: snapshots read from the live state, the policy's decisions applied, gates kept.

The policy (``routing.policy``) decides; this module only gathers its inputs and carries out its output.
Every read here is per queue or per agreement, never per waiting entry.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from plumbing.db.scope import all_partners
from routing.dispatch.opening import OpenNow
from routing.dispatch.placing import INTERVAL_SECONDS as INTERVAL_SECONDS
from routing.dispatch.placing import ROLLING_SECONDS as ROLLING_SECONDS
from routing.dispatch.placing import gate_map as gate_map
from routing.dispatch.placing import placement
from routing.dispatch.placing import rolling_figures as rolling_figures
from routing.dispatch.presence import teams_taking_work
from routing.live.base import (
    Caps,
    LiveState,
    QueueEntry,
    enqueued_ms_of,
    queue_name,
    to_ms,
)
from routing.policy import decide, gate_for, gates
from routing.policy.model import (
    Agreement,
    Conditions,
    Decision,
    EnquiryFacts,
    Gate,
    QueueFigures,
    ServiceTerms,
    Snapshot,
    Window,
)
from tenants.agreements.service import SkippedAgreement, agreements_stamp, readable_agreements
from tenants.agreements.terms import DAYS, AgreementDefinition
from tenants.catalogue import Catalogue, CatalogueCache, ServiceInfo

log = structlog.get_logger(__name__)

RECHECK_SECONDS = 30  # a waiting caller's predicted wait is looked at again this often


def terms_of_agreement(definition: AgreementDefinition) -> Agreement:
    c = definition.conditions
    return Agreement(
        id=definition.id,
        lender=definition.lender,
        borrower=definition.borrower,
        services=None if definition.services == "all" else frozenset(definition.services),
        channels=None if definition.channels == "all" else frozenset(definition.channels),
        windows=tuple(
            Window(frozenset(DAYS.index(d) for d in h.days), h.from_, h.to) for h in definition.hours
        ),
        timezone=definition.timezone,
        conditions=Conditions(
            out_of_borrower_hours=c.out_of_borrower_hours,
            queue_length_at_least=c.queue_length_at_least,
            predicted_wait_at_least_seconds=c.predicted_wait_at_least_seconds,
            waited_at_least_seconds=c.waited_at_least_seconds,
            borrower_service_level_at_risk=c.borrower_service_level_at_risk,
        ),
        actions=frozenset(definition.actions),
        max_per_hour=definition.caps.per_hour,
        max_concurrent=definition.caps.concurrent,
        lender_protection=definition.lender_protection,
        unit_rate=definition.unit_rate,
        visible_fields=tuple(definition.visible_fields),
    )


def terms_of_service(info: ServiceInfo) -> ServiceTerms:
    return ServiceTerms(
        tenant=info.tenant,
        code=info.code,
        skills=info.skills,
        priority=info.priority,
        sl_threshold_seconds=info.sl_threshold_seconds,
        sl_target=info.sl_target,
        callbacks=info.routing.callbacks,
        callback_after_seconds=info.routing.callback_after_seconds,
        default_aht_seconds=float(info.routing.expected_handle_seconds),
    )


class AgreementsCache:
    """The stored agreements as policy terms; a change by any process is seen here within ``check_every_seconds``.

    Each ``get`` at most twice a second reads a stamp of the table (count and latest change) and reloads when it
    moved: a change is in force in every process within a second, the reload included. A stored agreement that
    no longer validates is skipped, with an error logged once (and ``hub_agreements_invalid`` on /metrics),
    instead of stopping the router.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        max_age_seconds: float = 30.0,
        check_every_seconds: float = 0.5,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._max_age = max_age_seconds
        self._check_every = check_every_seconds
        self._terms: list[Agreement] = []
        self._loaded_at = -1e9
        self._checked_at = -1e9
        self._stamp: object = None
        self._reported: set[tuple[str, str]] = set()
        self.skipped: list[SkippedAgreement] = []
        self._changed: set[str] = set()  # borrowers whose agreements changed since ``take_changed``
        # One reload at a time: a reload that read before a change and finished after a later one's would put the
        # old terms back (and mark their borrowers changed twice: their waiters re-planned for nothing).
        self._reloading = asyncio.Lock()

    async def get(self) -> list[Agreement]:
        now = time.monotonic()
        if now - self._loaded_at > self._max_age:
            await self.reload()
        elif now - self._checked_at >= self._check_every:
            self._checked_at = now  # before the await: concurrent callers do not all check
            with all_partners():
                async with self._sessionmaker() as session:
                    stamp = await agreements_stamp(session)
            if stamp != self._stamp:
                await self.reload()
        return self._terms

    async def reload(self) -> list[Agreement]:
        async with self._reloading:
            return await self._reload()

    async def _reload(self) -> list[Agreement]:
        with all_partners():  # shared by the process: never only the partners of the request that reloads
            async with self._sessionmaker() as session:
                stamp = await agreements_stamp(session)
                definitions, skipped = await readable_agreements(session)
        terms: list[Agreement] = []
        for definition in definitions:
            try:
                terms.append(terms_of_agreement(definition))
            except ValueError as exc:  # a zone or window the policy cannot read
                skipped.append(SkippedAgreement(definition.id, str(exc)))
        for bad in skipped:
            if (bad.id, bad.error) not in self._reported:
                self._reported.add((bad.id, bad.error))
                log.error("agreements.invalid_skipped", agreement=bad.id, error=bad.error[:300])
        if self._loaded_at > -1e9:  # the first load changes nothing already placed by this process
            before, after = {a.id: a for a in self._terms}, {a.id: a for a in terms}
            self._changed |= {
                a.borrower
                for key in before.keys() | after.keys()
                if before.get(key) != after.get(key)
                for a in (before.get(key), after.get(key))
                if a is not None
            }
        self._terms, self.skipped, self._stamp = terms, skipped, stamp
        self._loaded_at = self._checked_at = time.monotonic()
        return self._terms

    def take_changed(self) -> set[str]:
        """Borrowers whose agreements were added, changed or removed since last asked (their waiters re-plan)."""
        changed, self._changed = self._changed, set()
        return changed


@dataclass(frozen=True)
class Routed:
    """A new enquiry, routed: where it goes in the live state, and the decision recorded on its trail."""

    entry: QueueEntry
    decision: Decision
    recheck_at: datetime | None


@dataclass(frozen=True)
class Staffing:
    """Agents signed in (available or busy), counted by partner and skill set: a few groups, however many agents."""

    teams: dict[tuple[str, frozenset[str]], int]  # (partner, skills) -> agents
    by_skill: dict[tuple[str, str], int]  # (partner, skill) -> agents with that skill

    @classmethod
    def of(cls, agents: Iterable[tuple[str, set[str]]]) -> Staffing:
        return cls.of_teams(Counter((tenant, frozenset(skills)) for tenant, skills in agents))

    @classmethod
    def of_teams(cls, teams: Mapping[tuple[str, frozenset[str]], int]) -> Staffing:
        by_skill: Counter[tuple[str, str]] = Counter()
        for (tenant, skills), count in teams.items():
            for skill in skills:
                by_skill[(tenant, skill)] += count
        return cls(dict(teams), dict(by_skill))

    def with_skills(self, tenant: str, skills: frozenset[str]) -> int:
        """Agents of ``tenant`` who have every one of ``skills``."""
        return sum(count for (t, s), count in self.teams.items() if t == tenant and skills <= s)


class Router:
    """Builds the policy's snapshot and asks it where work goes; handed what it reads, owning none of it."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        live: LiveState,
        catalogue: CatalogueCache,
        agreements: AgreementsCache,
        open_now: OpenNow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.live = live
        self.catalogue = catalogue
        self.agreements = agreements
        self.open_now = open_now
        self._staffed = Staffing.of([])
        self._staffed_at: float | None = None  # None: count before the next decision
        self._staff_changes = 0
        self._recount: asyncio.Task[None] | None = None
        self._caps: dict[str, Caps] | None = None
        # Each gate as last decided here, with when: an overflow's trail gives the reasons that opened the ring,
        # not a second look taken after the reservation (which would count the lender's agent as already busy).
        self._gates: dict[tuple[str, str], tuple[Gate, datetime]] = {}

    # -- reading the snapshot --------------------------------------------------------------------------

    def staff_changed(self) -> None:
        """An agent signed in or out here: count the team again before the next decision."""
        self._staffed_at = None
        self._staff_changes += 1

    async def _staffed_agents(self) -> Staffing:
        if self._staffed_at is None:
            await self._count_staff()
        elif time.monotonic() - self._staffed_at > 2.0 and self._recount is None:
            # Sign-ins on other processes (`hub serve`) show here within seconds: counted again in the
            # background, so no decision waits for it (with thousands signed in the count takes the database
            # tens of milliseconds, and every batch behind it waited).
            self._recount = asyncio.create_task(self._count_staff_in_background())
        return self._staffed

    async def _count_staff(self) -> None:
        started, changes = time.monotonic(), self._staff_changes
        with all_partners():  # staffing is hub-wide, whatever the scope of the request that asks
            async with self.sessionmaker() as session:
                self._staffed = Staffing.of_teams(await teams_taking_work(session))
        if changes == self._staff_changes:  # else a change came during the count: count again next time
            self._staffed_at = started

    async def _count_staff_in_background(self) -> None:
        try:
            await self._count_staff()
        except Exception as exc:  # the database away: keep the last count, try again in two seconds
            log.warning("staffing.count_failed", error=str(exc)[:200])
            if self._staffed_at is not None:
                self._staffed_at = time.monotonic()
        finally:
            self._recount = None

    async def snapshot(self, base_queues: set[str], now: datetime) -> Snapshot:
        """Figures for ``base_queues`` ("tenant/service") and for every lender that could take them."""
        catalogue = await self.catalogue.get()
        agreements = await self.agreements.get()
        tenants = {q.split("/", 1)[0] for q in base_queues}
        lenders = {a.lender for a in agreements if a.borrower in tenants}
        for lender in lenders:
            lender_info = catalogue.tenants.get(lender)
            if lender_info is not None:
                base_queues = base_queues | {f"{lender}/{code}" for code in lender_info.services}
        services = {
            q: terms_of_service(info)
            for q in base_queues
            if (info := catalogue.service(*q.split("/", 1))) is not None
        }
        keys = sorted(services)
        live = self.live
        now_ms = to_ms(now)
        voice_and_text = [name for q in keys for name in (q, q + "+text")]
        # Lenders' rings for these queues: their idle agents count in an honest predicted wait.
        ring_keys = [
            (a, q)
            for a in agreements
            if "widen" in a.actions
            for q in keys
            if services[q].tenant == a.borrower and (a.services is None or services[q].code in a.services)
        ]
        ring_names = [queue_name(a.borrower, services[q].code, "voice", a.id) for a, q in ring_keys]
        states = await live.queue_states(voice_and_text + ring_names)
        # One read: the interval so far lies within the rolling half hour.
        buckets = await live.read_stats(keys, now_ms - ROLLING_SECONDS * 1000, now_ms)
        staffed = await self._staffed_agents()
        figures: dict[str, QueueFigures] = {}
        for q in keys:
            voice, text = states[q], states[q + "+text"]
            heads = [s for s in (voice.head_score, text.head_score) if s is not None]
            head_wait = (now_ms - enqueued_ms_of(min(heads))) / 1000 if heads else 0.0
            arrivals_per_second, aht_seconds, interval_service_level = rolling_figures(buckets[q], now_ms)
            tenant, skills = services[q].tenant, services[q].skills
            figures[q] = QueueFigures(
                waiting=voice.waiting + text.waiting,
                head_wait_seconds=max(0.0, head_wait),
                arrivals_per_second=arrivals_per_second,
                aht_seconds=aht_seconds,
                agents_staffed=staffed.with_skills(tenant, skills),
                agents_idle=voice.idle_agents,
                interval_service_level=interval_service_level,
            )
        ring_agents = {
            (a.id, q): (staffed.with_skills(a.lender, services[q].skills), states[name].idle_agents)
            for (a, q), name in zip(ring_keys, ring_names, strict=True)
        }
        counts = await live.overflow_counts([a.id for a in agreements], now_ms)
        open_now = self.open_now
        return Snapshot(
            now=now,
            queues=figures,
            services=services,
            open_now={t: open_now(t, "phone", now) for t in tenants | lenders},
            agreements=tuple(agreements),
            agents=staffed.by_skill,
            overflow_in_hand={a: c.in_hand for a, c in counts.items()},
            overflow_this_hour={a: c.this_hour for a, c in counts.items()},
            ring_agents=ring_agents,
        )

    # -- deciding for new enquiries --------------------------------------------------------------------

    async def route(self, facts: Sequence[EnquiryFacts], now: datetime) -> list[Routed]:
        """The policy's decision for each new enquiry, and its place (with rings) in the live state."""
        if not facts:
            return []
        catalogue = await self.catalogue.get()
        snapshot = await self.snapshot({f"{f.owner}/{f.service_code}" for f in facts}, now)
        by_channel = {channel: self._for_channel(snapshot, channel) for channel in {f.channel for f in facts}}
        out = []
        for fact in facts:
            info = catalogue.service(fact.owner, fact.service_code)
            if info is None:
                continue
            terms = terms_of_service(info)
            decision = decide(fact, terms, by_channel[fact.channel])
            out.append(
                Routed(self.placement(fact, decision), decision, self._recheck(fact, terms, decision, now))
            )
        await self._count_arrivals([r.entry for r in out], now)
        return out

    def _for_channel(self, snapshot: Snapshot, channel: str) -> Snapshot:
        if channel == "phone":
            return snapshot
        open_now = self.open_now
        return replace(snapshot, open_now={t: open_now(t, channel, snapshot.now) for t in snapshot.open_now})

    @staticmethod
    def placement(fact: EnquiryFacts, decision: Decision) -> QueueEntry:
        """The enquiry's queue and rings (``routing.dispatch.placing``, compiled with the simulator's group)."""
        return placement(fact, decision)

    @staticmethod
    def _recheck(
        fact: EnquiryFacts, terms: ServiceTerms, decision: Decision, now: datetime
    ) -> datetime | None:
        """Look again while it waits, for as long as a callback could still be offered."""
        if decision.action != "queue" or not terms.callbacks or fact.channel not in ("phone", "face_to_face"):
            return None
        return now + timedelta(seconds=RECHECK_SECONDS)

    async def _count_arrivals(self, entries: list[QueueEntry], now: datetime) -> None:
        per_queue: dict[str, int] = {}
        for entry in entries:
            per_queue[entry.queue] = per_queue.get(entry.queue, 0) + 1
        for queue, n in per_queue.items():
            await self.live.record_stats(queue, to_ms(now), {"arrivals": n})

    async def redecide(self, fact: EnquiryFacts, now: datetime) -> tuple[Decision, datetime | None] | None:
        """A waiting enquiry looked at again, with its place in the queue now."""
        catalogue = await self.catalogue.get()
        info = catalogue.service(fact.owner, fact.service_code)
        if info is None:
            return None
        position = await self.live.position(fact.id)
        if position is None:
            return None
        fact = replace(fact, position=position[1])
        snapshot = await self.snapshot({f"{fact.owner}/{fact.service_code}"}, now)
        terms = terms_of_service(info)
        decision = decide(fact, terms, self._for_channel(snapshot, fact.channel))
        return decision, self._recheck(fact, terms, decision, now)

    async def rings_for(self, fact: EnquiryFacts, now: datetime, catalogue: Catalogue) -> QueueEntry | None:
        """The place of an enquiry already waiting (a rebuild): its rings from the agreements in force."""
        info = catalogue.service(fact.owner, fact.service_code)
        if info is None:
            return None
        snapshot = Snapshot(
            now=now,
            queues={},
            services={},
            open_now={},
            agreements=tuple(await self.agreements.get()),
        )
        return self.placement(fact, decide(fact, terms_of_service(info), snapshot))

    # -- gates and caps --------------------------------------------------------------------------------

    async def gates_now(self, now: datetime) -> list[Gate]:
        agreements = await self.agreements.get()
        catalogue = await self.catalogue.get()
        borrowers = {a.borrower for a in agreements if "widen" in a.actions}
        queues = {
            f"{t}/{code}" for t in borrowers if (info := catalogue.tenants.get(t)) for code in info.services
        }
        if not queues:
            self._gates = {}
            return []
        decided = gates(await self.snapshot(queues, now))
        self._gates = {(g.agreement, g.borrower_queue): (g, now) for g in decided}
        # Recorded where every process reads it: an agent who frees up on another process (``hub serve``) takes
        # work from a ring this tick opened, and its trail must give this decision's reasons. Only open gates:
        # no offer is made in a shut ring, and most gates are shut most of the time.
        await self.live.record_gate_decisions(
            {
                _gate_key(g.agreement, g.borrower_queue): json.dumps(_decision(g, now), default=str)
                for g in decided
                if g.open
            }
        )
        return decided

    async def gate_reasons(self, agreement_id: str, base_queue: str, now: datetime) -> dict[str, Any]:
        """Why a lender's ring was open, for the trail of an overflow offer: the gate's own reasons.

        The reasons are those of the decision that set the gate in the live state (the last tick's ``gates_now``,
        in whichever process it ran: recorded there with the gates), never worked out again after the reservation.
        Only when no decision is on record (the live state was just rebuilt) is it decided now, and the trail says
        so (``decided: "at_offer"``).
        """
        agreements = {a.id: a for a in await self.agreements.get()}
        agreement = agreements.get(agreement_id)
        catalogue = await self.catalogue.get()
        info = catalogue.service(*base_queue.split("/", 1))
        if agreement is None or info is None:
            return {"agreement": agreement_id}
        key = _gate_key(agreement_id, base_queue)
        recorded = (await self.live.gate_decisions([key])).get(key)
        known = self._gates.get((agreement_id, base_queue))
        if recorded is not None:
            decision = json.loads(recorded)
        elif known is not None:
            decision = _decision(*known)
        else:
            gate = gate_for(agreement, terms_of_service(info), await self.snapshot({base_queue}, now))
            decision = {**_decision(gate, now), "decided": "at_offer"}
        return {
            "agreement": agreement.id,
            "lender": agreement.lender,
            "unit_rate": agreement.unit_rate,
            "gate_open": decision["gate_open"],
            "decided": decision["decided"],
            "decided_at": decision["decided_at"],
            "reasons": decision["reasons"],
        }

    async def configure_caps(self, now: datetime | None = None) -> None:
        """Send the caps when they change; each carries its zone's offset now, so the hourly cap counts the
        agreement's local hour (re-sent at the tick after the clocks change)."""
        at = now or datetime.now(UTC)
        caps = {
            a.id: Caps(a.max_per_hour, a.max_concurrent, _utc_offset_ms(a.timezone, at))
            for a in await self.agreements.get()
            if "widen" in a.actions
        }
        if caps != self._caps:
            await self.live.configure_caps(caps)
            self._caps = caps

    def forget_caps(self) -> None:
        """After a rebuild the live state has none: send them again."""
        self._caps = None


def _gate_key(agreement: str, base_queue: str) -> str:
    return f"{agreement}|{base_queue}"


def _decision(gate: Gate, decided_at: datetime) -> dict[str, Any]:
    """A gate as decided, in the trail's words (JSON-ready)."""
    return {
        "gate_open": gate.open,
        "decided": "with_the_gate",
        "decided_at": decided_at.isoformat(),
        "reasons": [r.as_dict() for r in gate.reasons],
    }


def _utc_offset_ms(timezone: str, at: datetime) -> int:
    offset = at.astimezone(ZoneInfo(timezone)).utcoffset()
    return int(offset.total_seconds() * 1000) if offset is not None else 0
