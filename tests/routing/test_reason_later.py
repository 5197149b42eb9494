"""``Reason.later``: a reason worked out when read is the same reason as one built at once."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

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
