"""The routing policy: pure code (no I/O) shared by the live dispatcher and the what-if simulator."""

from routing.policy.decide import decide, estimate_wait, gate_for, gates, predict_wait
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

__all__ = [
    "Agreement",
    "Conditions",
    "Decision",
    "EnquiryFacts",
    "Gate",
    "Prediction",
    "QueueFigures",
    "Reason",
    "Ring",
    "ServiceTerms",
    "Snapshot",
    "Window",
    "decide",
    "estimate_wait",
    "gate_for",
    "gates",
    "predict_wait",
]
