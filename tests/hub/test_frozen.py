"""``quick_init``: the same frozen dataclass instances as dataclasses' own ``__init__``, made faster."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from hub.frozen import quick_init
from routing.policy.model import Reason


@dataclasses.dataclass(frozen=True)
class Plain:
    a: int
    b: str = "b"
    c: dict[str, int] = dataclasses.field(default_factory=dict)


@quick_init
@dataclasses.dataclass(frozen=True)
class Quick:
    a: int
    b: str = "b"
    c: dict[str, int] = dataclasses.field(default_factory=dict)


def test_same_instances_as_the_generated_init() -> None:
    for args, kwargs in [((1,), {}), ((1, "x"), {}), ((1,), {"c": {"n": 2}}), ((), {"a": 3, "b": "y"})]:
        plain, quick = Plain(*args, **kwargs), Quick(*args, **kwargs)
        assert dataclasses.astuple(plain) == dataclasses.astuple(quick)
        assert repr(plain).removeprefix("Plain") == repr(quick).removeprefix("Quick")
    assert Quick(1) == Quick(1, "b", {}) and hash(Quick(1, c=None)) == hash(Quick(1, c=None))  # type: ignore[arg-type]
    assert Quick(1).c is not Quick(1).c  # a fresh default each time
    assert dataclasses.replace(Quick(1), b="z") == Quick(1, "z")
    assert list(inspect.signature(Quick).parameters) == ["a", "b", "c"]
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick(1, 2, 3, 4)  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Quick(1).a = 2  # type: ignore[misc]


def test_the_policy_types_use_it_and_stay_frozen() -> None:
    reason = Reason("rule", "says")
    assert reason == Reason("rule", "says", {}) and reason.figures == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        reason.says = "other"  # type: ignore[misc]


def test_refuses_what_it_does_not_handle() -> None:
    @dataclasses.dataclass
    class NotFrozen:
        a: int

    with pytest.raises(TypeError):
        quick_init(NotFrozen)

    @dataclasses.dataclass(frozen=True)
    class KeywordOnly:
        a: int = dataclasses.field(kw_only=True)

    with pytest.raises(TypeError):
        quick_init(KeywordOnly)
