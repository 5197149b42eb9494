"""Properties of the live state over random event sequences, on Redis and in memory (hypothesis).

Never one enquiry offered to two agents; never two calls (or a call and anything else) to one agent; the best
waiting entry goes first; an agreement's caps are never exceeded; every enquiry ends in exactly one state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.live.base import Caps, LiveState, Offer, RingPlacement, kind_of, queue_name, queue_score

T0 = 1_800_000_000_000
TTL = 20_000
CAPACITY = 2
OWN = [queue_name("own", "svc"), queue_name("own", "svc", "text")]
RINGS = [queue_name("own", "svc", agreement="agr"), queue_name("own", "svc", "text", agreement="agr")]
AGENTS = {"a0": OWN, "a1": OWN, "l0": RINGS, "l1": RINGS}

arrive = st.tuples(
    st.just("arrive"), st.integers(0, 9), st.sampled_from(["phone", "email"]), st.sampled_from([0, 30_000])
)
agent_op = st.tuples(
    st.sampled_from(["ready", "away", "accept", "reject", "finish"]), st.sampled_from(sorted(AGENTS))
)
withdraw = st.tuples(st.just("withdraw"), st.integers(0, 30))
tick = st.tuples(st.just("tick"), st.sampled_from([1_000, 10_000, 25_000, 3_600_000]), st.booleans())
programs = st.tuples(
    st.integers(0, 3),  # concurrent cap
    st.integers(0, 4),  # hourly cap
    st.lists(st.one_of(arrive, arrive, agent_op, agent_op, agent_op, withdraw, tick), max_size=45),
)


@dataclass
class Model:
    now: int = T0
    created: list[tuple[int, float, str]] = field(default_factory=list)  # (id, score, owner queue)
    offers: dict[str, Offer] = field(default_factory=dict)
    hands: dict[str, dict[int, str]] = field(default_factory=lambda: {a: {} for a in AGENTS})
    finished: set[int] = field(default_factory=set)
    withdrawn: set[int] = field(default_factory=set)

    def note(self, offers: list[Offer] | Offer | None) -> None:
        for offer in offers if isinstance(offers, list) else [offers] if offers else []:
            assert offer.agent_id not in self.offers, "two offers at once to one agent"
            hand = self.hands[offer.agent_id]
            voice_in_hand = any(kind_of(q) == "voice" for q in hand.values())
            assert not voice_in_hand, "offered work while on a call"
            # Blended work: a call may go to an agent holding web forms or emails (they wait meanwhile).
            if kind_of(offer.queue) == "text":
                assert len(hand) < CAPACITY, "text capacity exceeded"
            self.offers[offer.agent_id] = offer


async def _run(live: LiveState, concurrent: int, per_hour: int, program: list[tuple]) -> None:  # type: ignore[type-arg]
    await live.reset()
    await live.configure_caps({"agr": Caps(per_hour=per_hour, concurrent=concurrent)})
    m = Model()
    gates_open = True
    await live.set_gates({q: True for q in RINGS}, now_ms=m.now, ttl_ms=TTL)
    for step in program:
        op = step[0]
        if op == "arrive":
            _, priority, channel, delay = step
            enquiry_id = len(m.created) + 1
            kind = "text" if channel == "email" else "voice"
            owner = queue_name("own", "svc", kind)
            score = queue_score(priority, m.now)
            ring = RingPlacement(queue_name("own", "svc", kind, "agr"), m.now + delay)
            m.created.append((enquiry_id, score, owner))
            from routing.live.base import QueueEntry

            m.note(
                await live.enqueue(QueueEntry(enquiry_id, owner, score, (ring,)), now_ms=m.now, ttl_ms=TTL)
            )
        elif op == "ready":
            agent = step[1]
            offer = await live.agent_ready(
                agent, AGENTS[agent], now_ms=m.now, ttl_ms=TTL, text_capacity=CAPACITY
            )
            if offer is not None and agent in ("a0", "a1"):
                # Live first, then priority order: no call waits while the agent was given a web form or an
                # email, and nothing of the kind it was given waits ahead of it.
                text_in_hand = sum(kind_of(q) == "text" for q in m.hands[agent].values())
                for enquiry_id, score, owner in m.created:
                    if kind_of(owner) == "voice":
                        ahead = kind_of(offer.queue) == "text" or score < offer.score
                    else:
                        ahead = kind_of(offer.queue) == "text" and score < offer.score
                    allowed = kind_of(owner) == "voice" or text_in_hand < CAPACITY
                    if allowed and ahead and await live.position(enquiry_id) is not None:
                        raise AssertionError(
                            f"{enquiry_id} (score {score}) waits ahead of {offer.enquiry_id}"
                        )
            m.note(offer)
        elif op == "away":
            await live.agent_away(step[1])
        elif op == "accept":
            agent = step[1]
            offer = m.offers.pop(agent, None)
            if offer is not None:
                assert await live.accept(agent, offer.enquiry_id)
                m.hands[agent][offer.enquiry_id] = offer.queue
        elif op == "reject":
            agent = step[1]
            offer = m.offers.pop(agent, None)
            if offer is not None:
                released = await live.release(agent, offer.enquiry_id)
                assert released is not None
                m.note(await live.enqueue(released.entry, now_ms=m.now, ttl_ms=TTL))
        elif op == "finish":
            agent = step[1]
            if m.hands[agent]:
                enquiry_id = next(iter(m.hands[agent]))
                del m.hands[agent][enquiry_id]
                assert await live.finish(agent, enquiry_id)
                m.finished.add(enquiry_id)
        elif op == "withdraw":
            index = step[1]
            if index < len(m.created):
                enquiry_id = m.created[index][0]
                taken = await live.withdraw(enquiry_id)
                if isinstance(taken, Offer):
                    assert m.offers.pop(taken.agent_id).enquiry_id == enquiry_id
                if taken is not False:
                    m.withdrawn.add(enquiry_id)
        elif op == "tick":
            _, seconds, flip = step
            m.now += seconds
            for offer in await live.pop_expired(m.now):
                assert m.offers.pop(offer.agent_id).enquiry_id == offer.enquiry_id
                m.note(await live.enqueue(offer.entry, now_ms=m.now, ttl_ms=TTL))
            m.note(await live.open_due(m.now, TTL))
            gates_open = gates_open != flip
            m.note(await live.set_gates({q: gates_open for q in RINGS}, now_ms=m.now, ttl_ms=TTL))
        # After every step: the live state agrees with what it told us, and no cap is exceeded.
        for agent in AGENTS:
            held = await live.offer_for(agent)
            expected = m.offers.get(agent)
            assert (held.enquiry_id if held else None) == (expected.enquiry_id if expected else None)
        offered = [o.enquiry_id for o in m.offers.values()]
        assert len(offered) == len(set(offered)), "one enquiry offered to two agents"
        counts = (await live.overflow_counts(["agr"], m.now))["agr"]
        assert counts.in_hand <= concurrent and counts.this_hour <= per_hour
    # Every enquiry is in exactly one state.
    held_ids = {i for hand in m.hands.values() for i in hand}
    for enquiry_id, _score, _owner in m.created:
        states = [
            await live.position(enquiry_id) is not None,
            enquiry_id in offered,
            enquiry_id in held_ids,
            enquiry_id in m.finished,
            enquiry_id in m.withdrawn,
        ]
        assert sum(states) == 1, f"enquiry {enquiry_id} is in {sum(states)} states: {states}"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=programs)
async def test_live_state_properties(live: LiveState, program: tuple) -> None:  # type: ignore[type-arg]
    concurrent, per_hour, steps = program
    await _run(live, concurrent, per_hour, steps)
