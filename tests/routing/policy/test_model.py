"""The policy's frozen terms (native classes when the simulator's group is compiled): frozen, equal by value,
hashable, picklable, and the same under ``replace`` and ``repr`` as the dataclasses they were."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime, time

import pytest

from routing.policy.model import (
    Agreement,
    Conditions,
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

EVENINGS = Window(frozenset({0, 1}), time(18, 0), time(22, 0))
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
FACTS = EnquiryFacts(7, "chorley", "general", "phone", 5, NOON)
TERMS = ServiceTerms("chorley", "general", frozenset({"general"}), 5, 20, 0.8, callbacks=True)


def agreement() -> Agreement:
    return Agreement(
        "hub-evenings",
        "hub",
        "chorley",
        frozenset({"general"}),
        None,
        (EVENINGS,),
        "Europe/London",
        Conditions(waited_at_least_seconds=60.0),
        frozenset({"widen"}),
        None,
        2,
        0.8,
        4.2,
        ("name",),
    )


@pytest.mark.parametrize(
    "value",
    [
        EVENINGS,
        Conditions(queue_length_at_least=3),
        agreement(),
        TERMS,
        FACTS,
        QueueFigures(3, 12.5, 0.1, 240.0, 4, 1, 0.8),
        Ring("hub", NOON, "hub-evenings"),
    ],
)
def test_frozen_equal_hashable_and_picklable(value: object) -> None:
    field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)
    again = pickle.loads(pickle.dumps(value))
    assert again == value and hash(again) == hash(value) and type(again) is type(value)
    assert repr(again) == repr(value)


@pytest.mark.parametrize(
    "value",
    [
        Decision(
            5, (Ring("chorley", NOON),), "queue", Prediction(0.0, "position"), (Reason("priority", "5"),)
        ),
        Gate("hub-evenings", "chorley/general", True, (Reason("agreement_conditions", "within hours"),)),
    ],
)
def test_decisions_and_gates_frozen_equal_and_picklable(value: object) -> None:
    """Unhashable, as the Structs were: their reasons hold figures in a dict."""
    field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)
    again = pickle.loads(pickle.dumps(value))
    assert again == value and type(again) is type(value) and repr(again) == repr(value)


def test_fields_defaults_replace_and_repr() -> None:
    assert (
        TERMS.callbacks is True
        and TERMS.callback_after_seconds is None
        and TERMS.default_aht_seconds == 240.0
    )
    assert Conditions() == Conditions(False, None, None, None, False)
    later = dataclasses.replace(agreement(), max_concurrent=5)
    assert later.max_concurrent == 5 and later.id == "hub-evenings" and later != agreement()
    assert repr(EVENINGS) == (
        "Window(days=frozenset({0, 1}), start=datetime.time(18, 0), end=datetime.time(22, 0))"
    )
    assert dataclasses.asdict(Conditions(out_of_borrower_hours=True))["out_of_borrower_hours"] is True


def test_agreement_covers_its_services_and_channels() -> None:
    a = agreement()
    assert a.covers("general", "phone") and a.covers("general", "web")
    assert not a.covers("council-tax", "phone")


def test_per_contact_values_keep_their_defaults_keywords_and_replace() -> None:
    """The values built per contact (msgspec Structs until the seventh round) as they were built before."""
    assert FACTS.position is None and dataclasses.replace(FACTS, position=2).position == 2
    assert (
        EnquiryFacts(
            id=7, owner="chorley", service_code="general", channel="phone", priority=5, queued_at=NOON
        )
        == FACTS
    )
    assert QueueFigures() == QueueFigures(0, 0.0, 0.0, None, 0, 0, None)
    assert dataclasses.replace(QueueFigures(), agents_idle=2).agents_idle == 2
    assert Ring("chorley", NOON).agreement is None
    assert repr(Ring("chorley", NOON)) == (
        "Ring(pool='chorley', opens_at=datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.timezone.utc), "
        "agreement=None)"
    )


def test_snapshot_mappings_default_to_empty_ones_of_its_own() -> None:
    first = Snapshot(NOON, {}, {}, {})
    second = Snapshot(NOON, {}, {}, {})
    assert first.agents == {} and first.overflow_in_hand == {} and first.ring_agents == {}
    assert first.agents is not second.agents  # each its own, as ``default_factory`` gave
    assert first.figures("chorley", "general") == QueueFigures()
    later = dataclasses.replace(first, open_now={"chorley": False})
    assert later.open_now == {"chorley": False} and later.now == NOON and first.open_now == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.now = NOON  # type: ignore[misc]
