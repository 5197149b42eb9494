"""A decision's reasons and predicted wait: frozen values whose text and figures may be worked out when first read.

Kept apart from ``routing.policy.model`` (compiled with the simulator's group, docs/simulator.md) because they
fill their instance's ``__dict__`` lazily (``_Later``), which a compiled native class cannot do; the model
re-exports them, so ``routing.policy.model.Reason`` is this class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any


class _Later:
    """Fields of a frozen dataclass worked out when first read: ``_later`` in the instance's ``__dict__`` holds
    (their names, a function, its arguments); the function returns their values (one name: the value)."""

    __slots__ = ()

    if not TYPE_CHECKING:  # to the type checker they are plain fields

        def __getattr__(self, name: str) -> Any:
            # Only called for an attribute the instance lacks: a later field, unread so far.
            fields_ = self.__dict__
            later = fields_.get("_later")
            if later is None or name not in later[0]:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            names, make, args = later
            values = make(*args)
            if len(names) == 1:
                fields_[names[0]] = values
            else:
                for field_name, value in zip(names, values, strict=True):
                    fields_[field_name] = value
            fields_.pop("_later", None)
            return fields_[name]


@dataclass(frozen=True, init=False)
class Reason(_Later):
    """One rule that shaped a decision, with the figures it looked at."""

    rule: str
    says: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, rule: str, says: str, figures: Mapping[str, Any] | None = None) -> None:
        # Fills the instance's dict: a frozen dataclass's own __init__ sets each field through
        # object.__setattr__, three times slower, and the simulator makes millions (docs/benchmarks.md).
        fields_ = self.__dict__
        fields_["rule"], fields_["says"], fields_["figures"] = rule, says, {} if figures is None else figures

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "says": self.says, "figures": dict(self.figures)}

    @classmethod
    def later(cls, rule: str, make: Callable[..., tuple[str, Mapping[str, Any]]], *args: Any) -> Reason:
        """A reason whose text and figures are ``make(*args)``, worked out when first read (``says``,
        ``figures``, ``as_dict``, equality, ``repr``): the same reason as if built at once, for the price of
        a tuple when nobody reads it (the simulator reads none of its millions). ``args`` must not change."""
        reason = cls.__new__(cls)
        fields_ = reason.__dict__
        fields_["rule"] = rule
        fields_["_later"] = (("says", "figures"), make, args)
        return reason


@dataclass(frozen=True, init=False)
class Prediction(_Later):
    seconds: float | None  # None: nobody is signed in to answer
    method: str  # "erlang_c", "position" or "no_agents"; "…_with_lenders" when lenders' agents are counted
    figures: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, seconds: float | None, method: str, figures: Mapping[str, Any] | None = None) -> None:
        fields_ = self.__dict__  # as Reason's
        fields_["seconds"], fields_["method"], fields_["figures"] = (
            seconds,
            method,
            {} if figures is None else figures,
        )

    @classmethod
    def later(
        cls, seconds: float | None, method: str, make: Callable[..., Mapping[str, Any]], *args: Any
    ) -> Prediction:
        """A prediction whose figures are ``make(*args)``, worked out when first read (as ``Reason.later``)."""
        prediction = cls.__new__(cls)
        fields_ = prediction.__dict__
        fields_["seconds"], fields_["method"] = seconds, method
        fields_["_later"] = (("figures",), make, args)
        return prediction
