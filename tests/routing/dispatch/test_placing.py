"""The router's per-contact steps (compiled with the simulator's group when built): hand-worked expected values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.dispatch.placing import gate_map, placement, rolling_figures
from routing.dispatch.router import Router
from routing.live.base import PRIORITY_SPAN_MS, QueueEntry, RingPlacement, StatBucket, stats_since
from routing.policy.model import Decision, EnquiryFacts, Gate, Prediction, Ring

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
AT_MS = 1_767_603_600_000  # 2026-01-05T09:00:00Z


def test_placement_names_the_owner_queue_and_each_lender_ring_with_its_opening() -> None:
    fact = EnquiryFacts(7, "chorley", "general", "phone", 5, AT)
    decision = Decision(
        5,
        (
            Ring("chorley", AT),
            Ring("south-ribble", AT + timedelta(seconds=60), "sr-lends"),
            Ring("hub", AT + timedelta(hours=9), "hub-evenings"),
        ),
        "queue",
        Prediction(12.0, "erlang_c"),
        (),
    )
    entry = placement(fact, decision)
    assert entry == QueueEntry(
        7,
        "chorley/general",
        float(4 * PRIORITY_SPAN_MS + AT_MS),  # (9 - priority 5) spans, then the time queued
        (
            RingPlacement("chorley/general@sr-lends", AT_MS + 60_000),
            RingPlacement("chorley/general@hub-evenings", AT_MS + 9 * 3_600_000),
        ),
    )
    assert Router.placement(fact, decision) == entry  # the router's is the same function


def test_placement_of_a_web_form_uses_the_text_queues() -> None:
    fact = EnquiryFacts(8, "chorley", "general", "web", 9, AT)
    decision = Decision(
        9, (Ring("chorley", AT), Ring("hub", AT, "a1")), "queue", Prediction(None, "no_agents"), ()
    )
    assert placement(fact, decision) == QueueEntry(
        8, "chorley/general+text", float(AT_MS), (RingPlacement("chorley/general+text@a1", AT_MS),)
    )


def test_gate_map_opens_or_closes_both_rings_of_each_gate() -> None:
    gates = [Gate("a1", "chorley/general", True, ()), Gate("a2", "lancs/pothole", False, ())]
    assert gate_map(gates) == {
        "chorley/general@a1": True,
        "chorley/general+text@a1": True,
        "lancs/pothole@a2": False,
        "lancs/pothole+text@a2": False,
    }


def test_rolling_figures_over_the_half_hour_and_this_interval() -> None:
    now = AT_MS + 20 * 60_000  # 09:20: the interval began at 09:00, the half hour at 08:50
    buckets = {
        AT_MS - 15 * 60_000: StatBucket(arrivals=100, handled=9, handle_ms=900_000.0),  # 08:45: neither
        AT_MS - 10 * 60_000: StatBucket(arrivals=6, handled=2, handle_ms=400_000.0, answered=5, abandoned=1),
        AT_MS: StatBucket(arrivals=12, handled=4, handle_ms=1_000_000.0, answered=3, answered_within=2),
        AT_MS + 15 * 60_000: StatBucket(arrivals=18, handled=0, answered=1, answered_within=1, abandoned=1),
    }
    # Half hour (08:50 on): 36 arrivals / 1800 s; 1,400,000 ms / 6 handled / 1000. Interval (09:00 on): 3 of 5.
    assert rolling_figures(buckets, now) == (36 / 1800, 1_400_000.0 / 6 / 1000, 3 / 5)
    assert rolling_figures({}, now) == (0.0, None, None)
    # The same as stats_since over each window.
    half, interval = stats_since(buckets, now - 1_800_000), stats_since(buckets, AT_MS)
    assert rolling_figures(buckets, now) == (
        half.arrivals / 1800,
        half.handle_ms / half.handled / 1000,
        interval.answered_within / (interval.answered + interval.abandoned),
    )
