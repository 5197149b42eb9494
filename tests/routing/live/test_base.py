"""The live state's values (native classes when the simulator's group is compiled): frozen where they were,
equal by value, picklable; a ``StatBucket``'s counters settable as the Redis state sets them."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from routing.live.base import Caps, Offer, OverflowCount, QueueEntry, QueueState, RingPlacement, StatBucket

RINGS = (RingPlacement("hub/chorley/general/voice@hub-evenings", 1_000),)


@pytest.mark.parametrize(
    "value",
    [
        Caps(30, 2, 3_600_000),
        Caps(None, None),
        OverflowCount(1, 7),
        QueueState(3, 1.5, 0),
        RINGS[0],
        QueueEntry(7, "chorley/general/voice", 2.5, RINGS),
        Offer(7, "a1", "chorley/general/voice", 2.5, 9_000, RINGS),
    ],
)
def test_frozen_equal_hashable_and_picklable(value: object) -> None:
    field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)
    again = pickle.loads(pickle.dumps(value))
    assert again == value and hash(again) == hash(value) and repr(again) == repr(value)


def test_caps_default_offset() -> None:
    assert Caps(30, 2) == Caps(30, 2, 0) and Caps(30, 2).utc_offset_ms == 0


def test_stat_bucket_defaults_counts_and_pickling() -> None:
    bucket = StatBucket(arrivals=3)
    assert (bucket.handled, bucket.handle_ms, bucket.extra) == (0, 0.0, {})
    bucket.handled += 2
    # As the Redis state reads a field back: its own type from the stored float.
    bucket.handle_ms = type(bucket.handle_ms)(float("12.5"))
    assert bucket == StatBucket(3, 2, 12.5, 0, 0, 0, {})
    assert pickle.loads(pickle.dumps(bucket)) == bucket
    assert StatBucket().extra is not StatBucket().extra  # each its own


def test_entries_and_offers_defaults_keywords_and_replace() -> None:
    """Built positionally or by keyword as the Structs they were; ``rings`` defaults to none."""
    entry = QueueEntry(enquiry_id=7, queue="chorley/general/voice", score=2.5)
    assert entry == QueueEntry(7, "chorley/general/voice", 2.5, ()) and entry.rings == ()
    offer = Offer(7, "a1", "chorley/general/voice@hub-evenings", 2.5, 9_000, RINGS)
    assert offer.entry == QueueEntry(7, "chorley/general/voice", 2.5, RINGS)
    assert offer.agreement == "hub-evenings"
    assert dataclasses.replace(offer, agent_id="a2").agent_id == "a2" and offer.agent_id == "a1"
    assert repr(RINGS[0]) == "RingPlacement(queue='hub/chorley/general/voice@hub-evenings', opens_ms=1000)"
