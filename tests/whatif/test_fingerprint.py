"""The simulator's speed-ups change nothing: a small run's fingerprint is the one the code before them gave."""

from __future__ import annotations

from bench.simulate import fingerprint


def test_twenty_thousand_contacts_hash_as_before_the_speed_ups() -> None:
    # sha256 over every contact's times, handler and flags, every decision's as_dict(), every gate's agreement,
    # queue, openness and reasons, and the report's figures; taken at 1a89bf7 (before issue 23's speed-ups).
    found = fingerprint(20_000)
    assert found == ("5e4553392067884fe7e6e381d7dea9587535385a9a982dd7e2c6f86c9fe18c4e", 20114)
