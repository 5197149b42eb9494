"""Which idle agent a service prefers: the best-skilled, then the longest idle (or simply the longest idle).

Pure: the dispatcher ranks each agent for each queue with ``skill_rank``; the live state orders its idle agents
by that rank, then by how long they have been idle. See docs/routing.md, "Proficiency".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

AgentChoice = Literal["longest_idle", "best_skilled"]

LEVELS = range(1, 6)  # 1: learning … 5: expert
DEFAULT_LEVEL = 3  # a skill held but not rated: an ordinary, competent agent


def skill_rank(required: frozenset[str], levels: Mapping[str, int]) -> int:
    """An agent's level for a service: their weakest level among the skills it needs (none needed: 0)."""
    if not required:
        return 0
    return min(levels.get(skill, DEFAULT_LEVEL) for skill in required)


def choice_text(choice: AgentChoice, rank: int, required: frozenset[str]) -> str:
    """The rule that chose the agent, in words, for the enquiry's trail."""
    if choice == "best_skilled" and required:
        return (
            f"offered to the best-skilled idle agent (level {rank} of 5 in {', '.join(sorted(required))}), "
            "then the longest idle"
        )
    return "offered to the agent idle longest"
