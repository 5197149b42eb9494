"""The policy's frozen terms (native classes when the simulator's group is compiled): frozen, equal by value,
hashable, picklable, and the same under ``replace`` and ``repr`` as the dataclasses they were."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import time

import pytest

from routing.policy import model, reasons
from routing.policy.model import Agreement, Conditions, ServiceTerms, Window

EVENINGS = Window(frozenset({0, 1}), time(18, 0), time(22, 0))
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


@pytest.mark.parametrize("value", [EVENINGS, Conditions(queue_length_at_least=3), agreement(), TERMS])
def test_frozen_equal_hashable_and_picklable(value: object) -> None:
    field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)
    again = pickle.loads(pickle.dumps(value))
    assert again == value and hash(again) == hash(value) and type(again) is type(value)
    assert repr(again) == repr(value)


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


def test_reasons_are_re_exported() -> None:
    assert model.Reason is reasons.Reason and model.Prediction is reasons.Prediction
