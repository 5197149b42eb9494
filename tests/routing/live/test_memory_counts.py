"""The in-memory state's shortcuts for the simulator: ``count_sync`` records what ``record_stats_sync`` records,
and ``overflow_version`` / ``overflow_hour_ends_sync`` say when the overflow counts may read differently."""

from __future__ import annotations

from routing.live.base import Caps, RingPlacement, entry_for, queue_name
from routing.live.memory import MemoryLiveState

T0 = 1_800_000_000_000  # a whole UTC hour (500,000 hours after 1970)
TTL = 10**12
HOUR = 3_600_000


def test_count_sync_records_what_record_stats_sync_records() -> None:
    by_dict, by_name = MemoryLiveState(), MemoryLiveState()
    text_ring = queue_name("chorley", "general", "text", "hub-evenings")  # counted under chorley/general
    steps: list[tuple[str, int, dict[str, float]]] = [
        ("chorley/general", T0, {"arrivals": 1}),
        ("chorley/general", T0 + 1_000, {"answered": 1, "answered_within": 1}),
        ("chorley/general", T0 + 2_000, {"answered": 1, "answered_within": 0}),
        (text_ring, T0 + 3_000, {"handled": 1, "handle_ms": 240_000}),
        ("chorley/general", T0 + 400_000, {"abandoned": 1}),  # the next 5-minute bucket
    ]
    for queue, now, counts in steps:
        by_dict.record_stats_sync(queue, now, counts)
        (name, value), *rest = counts.items()
        if rest:
            by_name.count_sync(queue, now, name, value, rest[0][0], rest[0][1])
        else:
            by_name.count_sync(queue, now, name, value)
    read = by_name.read_stats_sync(["chorley/general"], T0, T0 + 400_000)
    assert read == by_dict.read_stats_sync(["chorley/general"], T0, T0 + 400_000)
    first, second = read["chorley/general"][T0], read["chorley/general"][T0 + 300_000]
    assert (first.arrivals, first.answered, first.answered_within, first.handled, first.handle_ms) == (
        1,
        2,
        1,
        1,
        240_000.0,
    )
    assert (second.arrivals, second.abandoned) == (0, 1)


def test_overflow_version_moves_with_every_change_of_the_counts() -> None:
    live = MemoryLiveState()
    ring = queue_name("chorley", "general", "voice", "a1")
    version = live.overflow_version
    live.configure_caps_sync({"a1": Caps(per_hour=10, concurrent=2)})
    assert live.overflow_version > version
    live.set_gates_sync({ring: True}, now_ms=T0, ttl_ms=TTL)
    entry = entry_for(1, "chorley", "general", 5, T0, rings=(RingPlacement(ring, T0),))
    assert live.enqueue_sync(entry, now_ms=T0, ttl_ms=TTL) is None  # nobody idle yet
    version = live.overflow_version
    offer = live.agent_ready_sync("hub~0", [ring], now_ms=T0 + 1_000, ttl_ms=TTL)  # a lender's agent takes it
    assert offer is not None and offer.queue == ring
    assert live.overflow_version > version
    assert live.overflow_count_sync("a1", T0 + 1_000) == (1, 1)
    version = live.overflow_version
    assert live.accept_sync("hub~0", 1)  # from offered to in hand: the same counts
    assert live.overflow_version == version
    assert live.overflow_count_sync("a1", T0 + 1_000) == (1, 1)
    assert live.finish_sync("hub~0", 1)
    assert live.overflow_version > version
    assert live.overflow_count_sync("a1", T0 + 2_000) == (0, 1)
    # Nothing changes without a step: the version stands.
    version = live.overflow_version
    assert live.overflow_count_sync("a1", T0 + 3_000) == (0, 1)
    assert live.overflow_version == version
    live.reset_sync()
    assert live.overflow_version > version  # never back to a number a reader may hold


def test_the_counts_hold_until_an_agreements_local_hour_turns() -> None:
    live = MemoryLiveState()
    live.configure_caps_sync(
        {"utc": Caps(per_hour=10, concurrent=None), "half": Caps(10, None, utc_offset_ms=HOUR // 2)}
    )
    now = T0 + 600_000  # 10 minutes past a UTC hour
    # UTC: the hour turns at T0 + 1 h. Half an hour ahead: local 40 past, so it turns 20 minutes from now.
    assert live.overflow_hour_ends_sync(["utc"], now) == T0 + HOUR
    assert live.overflow_hour_ends_sync(["half"], now) == T0 + HOUR // 2
    assert live.overflow_hour_ends_sync(["utc", "half"], now) == T0 + HOUR // 2
    assert live.overflow_hour_ends_sync(["no-caps"], now) == T0 + HOUR  # no caps: UTC's hours
