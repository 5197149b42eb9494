"""Queue names, scores and the live state's clock: pure functions, compiled with the simulator's group.

``routing.live.base`` re-exports every name here (import them from there). They live apart so that mypyc can
compile them with the simulator's inner loop (pyproject.toml ``[tool.hub.compiled]``, docs/simulator.md): the
router's placement and the in-memory live state call them for every contact, and a call from compiled code into
a Python function costs an interpreter frame each time. Nothing here is a class, so nothing becomes native.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

# Higher priority (0–9) goes first, then the longest waiting; one float keeps both and survives requeues.
PRIORITY_SPAN_MS: Final = 10**13
HOUR_MS: Final = 3_600_000
TEXT_SUFFIX: Final = "+text"
# Several at once, and they wait while the agent takes a live contact.
DEFERRABLE_CHANNELS: Final = ("web", "email")
Kind = Literal["voice", "text"]


def queue_score(priority: int, enqueued_ms: int) -> float:
    return float((9 - priority) * PRIORITY_SPAN_MS + enqueued_ms)


def enqueued_ms_of(score: float) -> int:
    return int(score) % PRIORITY_SPAN_MS


def to_ms(moment: datetime) -> int:
    """The live state's clock: milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def kind_of_channel(channel: str) -> Kind:
    return "text" if channel in DEFERRABLE_CHANNELS else "voice"


def queue_name(tenant: str, service_code: str, kind: Kind = "voice", agreement: str | None = None) -> str:
    name = f"{tenant}/{service_code}{TEXT_SUFFIX if kind == 'text' else ''}"
    return f"{name}@{agreement}" if agreement else name


def owner_queue_of(queue: str) -> str:
    return queue.split("@", 1)[0]


def base_queue_of(queue: str) -> str:
    """``tenant/service``: the queue's figures are kept per service, whatever the channel or ring."""
    return owner_queue_of(queue).removesuffix(TEXT_SUFFIX)


def agreement_of(queue: str) -> str | None:
    return queue.split("@", 1)[1] if "@" in queue else None


def kind_of(queue: str) -> Kind:
    return "text" if owner_queue_of(queue).endswith(TEXT_SUFFIX) else "voice"


def local_hour(now_ms: int, utc_offset_ms: int) -> int:
    """The number of the local clock hour ``now_ms`` falls in, for a zone ``utc_offset_ms`` ahead of UTC."""
    return (now_ms + utc_offset_ms) // HOUR_MS
