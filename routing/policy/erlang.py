"""Erlang C for one queue of N agents (docs/design.md, "Figures"), pure functions the dispatcher and ``hub erlang`` share.

A = λ·AHT is the offered load in erlangs. P(wait) is Erlang's C formula; the service level at t seconds is
SL(t) = 1 − P(wait)·e^(−(N−A)·t/AHT) and the average speed of answer ASA = P(wait)·AHT/(N−A).
Check (docs/design.md, "Figures"): 100 calls per 30 min, AHT 180 s, 14 agents → P(wait) 0.174, SL(20 s) 88.8 %, ASA 7.8 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final


def offered_load(arrivals_per_second: float, aht_seconds: float) -> float:
    return arrivals_per_second * aht_seconds


def p_wait(agents: int, load: float) -> float:
    """Probability that an arrival waits; 1.0 when the load is at or over capacity (the queue grows)."""
    # Pure, and asked the same again and again (the router's figures change slowly): each answer kept, in a
    # dictionary (a native look-up compiled, where an ``lru_cache`` wrapper is a Python call), emptied when full.
    key = (agents, load)
    found = _P_WAIT.get(key)
    if found is None:
        if len(_P_WAIT) >= 8192:
            _P_WAIT.clear()
        found = _P_WAIT[key] = _p_wait(agents, load)
    return found


_P_WAIT: Final[dict[tuple[int, float], float]] = {}


def _p_wait(agents: int, load: float) -> float:
    if agents <= 0 or load >= agents:
        return 1.0
    if load <= 0:
        return 0.0
    # Erlang B by its recurrence (stable for hundreds of agents, unlike the factorial form), then C from B.
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
        if b == 0.0:
            # Underflowed (far more agents than load): it stays 0 to the end, so P(wait) is 0. Stopping here
            # keeps the cost near the load, not the agents signed in (thousands, every routing decision).
            return 0.0
    return agents * b / (agents - load * (1 - b))


def service_level(agents: int, load: float, aht_seconds: float, within_seconds: float) -> float:
    """Share of arrivals answered within ``within_seconds``; 0.0 when the load is at or over capacity."""
    if agents <= 0 or load >= agents:
        return 0.0
    return 1.0 - p_wait(agents, load) * math.exp(-(agents - load) * within_seconds / aht_seconds)


def asa(agents: int, load: float, aht_seconds: float) -> float:
    """Average speed of answer in seconds (infinite when the load is at or over capacity)."""
    if agents <= 0 or load >= agents:
        return math.inf
    return p_wait(agents, load) * aht_seconds / (agents - load)


@dataclass(frozen=True)
class ErlangC:
    """The three figures for one staffing level, as the reasons and the CLI show them."""

    agents: int
    load: float
    p_wait: float
    service_level: float
    asa_seconds: float

    @classmethod
    def of(
        cls, *, agents: int, arrivals_per_second: float, aht_seconds: float, within_seconds: float
    ) -> ErlangC:
        a = offered_load(arrivals_per_second, aht_seconds)
        return cls(
            agents=agents,
            load=a,
            p_wait=p_wait(agents, a),
            service_level=service_level(agents, a, aht_seconds, within_seconds),
            asa_seconds=asa(agents, a, aht_seconds),
        )


def agents_for(
    *,
    arrivals_per_second: float,
    aht_seconds: float,
    within_seconds: float,
    target: float,
    limit: int = 10_000,
) -> int:
    """The fewest agents that reach ``target`` service level (for staffing questions)."""
    a = offered_load(arrivals_per_second, aht_seconds)
    n = max(1, math.floor(a) + 1)
    while n < limit and service_level(n, a, aht_seconds, within_seconds) < target:
        n += 1
    return n
