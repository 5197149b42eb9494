"""``Reason.later``: a reason worked out when read is the same reason as one built at once."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from routing.policy.decide import _prediction_later, _reason, _reason_later
from routing.policy.model import Prediction, Reason

calls: list[int] = []


def make(count: int, cap: int) -> tuple[str, dict[str, Any]]:
    calls.append(count)
    return f"not: {count} in hand = cap {cap}", {"in_hand": count}


def test_read_when_asked_and_once() -> None:
    calls.clear()
    reason = Reason.later("cap", make, 2, 2)
    assert calls == [] and reason.rule == "cap"
    assert reason.says == "not: 2 in hand = cap 2" and reason.figures == {"in_hand": 2}
    assert calls == [2]
    assert reason.as_dict() == {"rule": "cap", "says": "not: 2 in hand = cap 2", "figures": {"in_hand": 2}}
    assert calls == [2]


def test_same_as_built_at_once() -> None:
    now = Reason("cap", "not: 3 in hand = cap 2", {"in_hand": 3})
    assert Reason.later("cap", make, 3, 2) == now
    assert now == Reason.later("cap", make, 3, 2)
    assert hash(Reason.later("cap", lambda: ("s", ()))) == hash(Reason("cap", "s", ()))
    assert repr(Reason.later("cap", make, 3, 2)) == repr(now)
    assert dataclasses.asdict(Reason.later("cap", make, 3, 2)) == dataclasses.asdict(now)
    assert dataclasses.replace(Reason.later("cap", make, 3, 2), rule="x") == dataclasses.replace(
        now, rule="x"
    )
    assert copy.deepcopy(Reason.later("cap", make, 3, 2)) == now
    with pytest.raises(dataclasses.FrozenInstanceError):
        Reason.later("cap", make, 3, 2).says = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Reason.later("cap", make, 3, 2).nothing  # type: ignore[attr-defined]  # noqa: B018


def test_a_later_prediction_is_the_same_prediction() -> None:
    def figures(agents: int, position: int) -> dict[str, Any]:
        return {"agents": agents, "position": position}

    later = Prediction.later(12.0, "position", figures, 3, 2)
    assert later.seconds == 12.0 and later.method == "position"
    assert later == Prediction(12.0, "position", {"agents": 3, "position": 2})
    assert later.figures == {"agents": 3, "position": 2}
    assert repr(Prediction.later(1.0, "erlang_c", figures, 1, 1)) == repr(
        Prediction(1.0, "erlang_c", {"agents": 1, "position": 1})
    )


def test_the_policy_builds_the_same_objects_as_the_classes() -> None:
    """``decide``'s own builders (compiled, no Python frame) against ``Reason.later``, ``Reason`` and
    ``Prediction.later``: the same fields before anything is read, and equal once read."""

    def make(count: int, cap: int) -> tuple[str, dict[str, int]]:
        return f"not: {count} = cap {cap}", {"in_hand": count}

    def figures(agents: int) -> dict[str, int]:
        return {"agents": agents}

    assert vars(_reason_later("cap", make, 3, 2)) == vars(Reason.later("cap", make, 3, 2))
    assert _reason_later("cap", make, 3, 2) == Reason("cap", "not: 3 = cap 2", {"in_hand": 3})
    assert vars(_reason("agreement_conditions", "x")) == vars(Reason("agreement_conditions", "x"))
    built = _prediction_later(12.5, "erlang_c", figures, 4)
    assert vars(built) == vars(Prediction.later(12.5, "erlang_c", figures, 4))
    assert built == Prediction(12.5, "erlang_c", {"agents": 4})
    assert type(built) is Prediction and type(_reason("r", "s")) is Reason
