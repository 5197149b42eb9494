"""The back-office adapter plugin contract and its registry (entry point group ``hub.adapters``).

An adapter turns one delivery (a case passed to the back office, or a later change to it) into whatever its
back office understands. It raises ``DeliveryError`` to be retried later, ``PermanentDeliveryError`` when
retrying cannot help (the row is parked at once), and ``AdapterConfigError`` for a misconfigured service.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

ENTRY_POINT_GROUP = "hub.adapters"


class DeliveryError(Exception):
    """The back office could not take the delivery now (down, busy, timed out): try again later."""


class PermanentDeliveryError(DeliveryError):
    """The back office refused the delivery itself; retrying the same thing cannot succeed."""


class AdapterConfigError(PermanentDeliveryError):
    """The service names no adapter, an unknown one, or gives it a config it cannot work with."""


@dataclass(frozen=True)
class Delivery:
    """What an adapter is asked to deliver; ``idempotency_key`` is the same on every attempt."""

    id: int
    idempotency_key: str
    kind: str  # e.g. "case.created"
    reference: str
    tenant: str
    service_code: str
    payload: dict[str, Any]
    attempt: int
    created_at: datetime

    def document(self) -> dict[str, Any]:
        """The JSON document every adapter sends in its own way."""
        return {
            "type": self.kind,
            "idempotency_key": self.idempotency_key,
            "reference": self.reference,
            "tenant": self.tenant,
            "service_code": self.service_code,
            "case": self.payload,
        }


@dataclass(frozen=True)
class DeliveryResult:
    """What the back office said back: its own id for the case (an Open311 service_request_id), if any."""

    external_ref: str | None = None


@dataclass
class AdapterContext:
    """What the worker shares with every adapter: one HTTP client (connection pooling) and the clock."""

    http: httpx.AsyncClient
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class AdapterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Adapter(ABC):
    """Subclasses set ``name`` and ``Config`` and implement ``deliver``."""

    name: ClassVar[str]
    Config: ClassVar[type[AdapterConfig]]

    def __init__(self, config: Any, context: AdapterContext) -> None:
        self.config = config
        self.context = context

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], context: AdapterContext) -> Adapter:
        """Validate ``raw`` (``env:NAME`` values read from the environment); refuse with every problem named."""
        resolved = resolve_env(dict(raw), cls.name)
        try:
            config = cls.Config.model_validate(resolved)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
            )
            raise AdapterConfigError(f"{cls.name} adapter: bad config: {problems}") from None
        return cls(config, context)

    @abstractmethod
    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        """Deliver once; the same delivery may come again (after a crash), so honour its idempotency key."""


def resolve_env(raw: dict[str, Any], adapter: str) -> dict[str, Any]:
    # Secrets stay out of the partner YAML: a value "env:NAME" is read from the worker's environment.
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and value.startswith("env:"):
            name = value[4:]
            if name not in os.environ:
                raise AdapterConfigError(
                    f"{adapter} adapter: config {key!r} names environment variable {name!r}, which is not set"
                )
            out[key] = os.environ[name]
        else:
            out[key] = value
    return out


class AdapterRegistry:
    """Adapter classes by name: the installed entry points, plus any registered by hand (tests, embedding)."""

    def __init__(
        self, adapters: Mapping[str, type[Adapter]] | None = None, broken: Mapping[str, str] | None = None
    ) -> None:
        self._adapters: dict[str, type[Adapter]] = dict(adapters or {})
        self.broken: dict[str, str] = dict(broken or {})  # name -> why it could not be loaded

    @classmethod
    def from_entry_points(cls) -> AdapterRegistry:
        """Every installed plugin; one that fails to load only parks the deliveries that name it."""
        found: dict[str, type[Adapter]] = {}
        broken: dict[str, str] = {}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                adapter = point.load()
            except Exception as exc:
                broken[point.name] = f"{point.value} failed to load: {type(exc).__name__}: {exc}"
                continue
            if isinstance(adapter, type) and issubclass(adapter, Adapter):
                found[point.name] = adapter
            else:
                broken[point.name] = f"{point.value} is not an Adapter subclass"
        return cls(found, broken)

    def register(self, name: str, adapter: type[Adapter]) -> None:
        self._adapters[name] = adapter

    @property
    def names(self) -> list[str]:
        return sorted(self._adapters)

    def build(self, spec: Mapping[str, Any] | None, context: AdapterContext, *, where: str) -> Adapter:
        """The adapter a service definition's ``adapter:`` block describes; ``where`` names the service."""
        if not spec:
            raise AdapterConfigError(f"{where} names no back-office adapter")
        name = spec.get("name")
        config = spec.get("config") or {}
        if isinstance(name, str) and name in self.broken:
            raise AdapterConfigError(f"{where} names adapter {name!r}, which is broken: {self.broken[name]}")
        if not isinstance(name, str) or name not in self._adapters:
            raise AdapterConfigError(
                f"{where} names adapter {name!r}, which is not installed "
                f"(installed: {', '.join(self.names) or 'none'})"
            )
        if not isinstance(config, Mapping):
            raise AdapterConfigError(f"{where}: adapter config must be a mapping")
        return self._adapters[name].from_config(config, context)
