"""A quicker ``__init__`` for short-lived frozen dataclasses made by the million (the policy's types).

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (one global lookup
and one call per field), because its own ``__setattr__`` refuses. ``quick_init`` replaces it with one that fills
the instance's ``__dict__`` directly: the same parameters, defaults and default factories, the same instance
afterwards (still frozen, same ``__eq__``, ``__hash__``, ``repr``, ``fields``, ``replace``), three times as fast.
The price: the instance gets a dict of its own (Python 3.11 otherwise keeps the fields inline), about 60 bytes
more, and reading a field is a little slower. So not for objects kept and read again and again: the pack's
``Timeline`` (a million kept per run, read by every figure) built faster this way but made the figures slower.
Only for plain frozen dataclasses: no ``__slots__``, no ``__post_init__``, no keyword-only fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


class _Factory:
    def __repr__(self) -> str:
        return "<factory>"  # as dataclasses shows it in a signature


_FACTORY = _Factory()  # a field with a default factory was not given


def quick_init(cls: type[T]) -> type[T]:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    if not params.frozen or "__slots__" in cls.__dict__ or hasattr(cls, "__post_init__"):
        raise TypeError(f"quick_init: {cls.__name__} is not a plain frozen dataclass")
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    args, lines = ["self"], ["_fields_ = self.__dict__"]
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init or f.kw_only or f._field_type is not dataclasses._FIELD:  # type: ignore[attr-defined]
            raise TypeError(f"quick_init: {cls.__name__}.{f.name} is not a plain field")
        name = f.name
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = f.default
            args.append(f"{name}=_default_{name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = f.default_factory
            args.append(f"{name}=_FACTORY")
            lines.append(f"if {name} is _FACTORY: {name} = _factory_{name}()")
        else:
            args.append(name)
        lines.append(f"_fields_[{name!r}] = {name}")
    source = f"def __init__({', '.join(args)}):\n" + "".join(f"    {line}\n" for line in lines)
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
