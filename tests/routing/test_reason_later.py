"""``Reason.later``: a reason worked out when read is the same reason as one built at once."""

from __future__ import annotations

import copy
import pickle
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
    assert repr(Reason.later("cap", make, 3, 2)) == repr(now)
    assert Reason.later("cap", make, 3, 2).as_dict() == now.as_dict()
    assert copy.deepcopy(Reason.later("cap", make, 3, 2)) == now
    assert pickle.loads(pickle.dumps(Reason.later("cap", make, 3, 2))) == now
    assert Reason.later("cap", make, 3, 2) != Reason("cap", "not: 3 in hand = cap 2", {"in_hand": 4})
    assert Reason.later("other", make, 3, 2) != now and now != "cap"
    for field in ("rule", "says", "figures"):  # read-only, as the frozen dataclass was
        with pytest.raises(AttributeError):
            setattr(Reason.later("cap", make, 3, 2), field, "other")
    with pytest.raises(AttributeError):
        Reason.later("cap", make, 3, 2).nothing  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(TypeError):  # figures in a dict: unhashable, as before
        hash(now)


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


def test_a_prediction_is_read_only_picklable_and_worked_out_once() -> None:
    made: list[int] = []

    def figures(agents: int) -> dict[str, int]:
        made.append(agents)
        return {"agents": agents}

    later = Prediction.later(12.5, "erlang_c", figures, 4)
    assert made == [] and pickle.loads(pickle.dumps(later)) == Prediction(12.5, "erlang_c", {"agents": 4})
    assert later.figures == {"agents": 4} and later.figures == {"agents": 4} and made == [4]
    assert Prediction(None, "no_agents") == Prediction(None, "no_agents", {}) != Prediction(0.0, "no_agents")
    for field in ("seconds", "method", "figures"):
        with pytest.raises(AttributeError):
            setattr(later, field, None)
