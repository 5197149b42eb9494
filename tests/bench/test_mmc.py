"""The bare SimPy M/M/c the simulator is measured beside answers as queueing theory says it should."""

from __future__ import annotations

from bench import mmc


def test_mean_wait_at_half_load_matches_erlang_c() -> None:
    # M/M/2 with λ = 1 a second and a mean handle of 1 s (μ = 1): offered load a = λ/μ = 1 Erlang, c = 2.
    # Erlang C: P(wait) = (a^c/c! · c/(c−a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c−a))
    #                  = (1/2 · 2/1) / (1 + 1 + 1/2 · 2/1) = 1 / 3.
    # Mean wait of all callers W_q = P(wait) / (cμ − λ) = (1/3) / (2 − 1) = 1/3 s.
    # Over 100,000 callers five seeds gave 0.328–0.338 s: 5 % is well outside the sampling noise.
    result = mmc.run(
        100_000, servers=2, arrival_rate=1.0, mean_handle_seconds=1.0, mean_patience_seconds=None, seed=3
    )
    assert result.answered == 100_000 and result.abandoned == 0
    assert abs(result.mean_wait_seconds - 1 / 3) < 0.05 / 3
    assert abs(result.waited_share - 1 / 3) < 0.05 / 3
    assert result.wall_seconds > 0 and result.cpu_seconds > 0


def test_callers_who_hang_up_leave_the_queue_and_are_counted_once() -> None:
    # One agent, calls twice as fast as it can answer (a = 2 Erlangs on c = 1): without patience the queue
    # would grow for ever; with a mean patience of one handle time, every caller is either answered or gone.
    result = mmc.run(
        20_000, servers=1, arrival_rate=2.0, mean_handle_seconds=1.0, mean_patience_seconds=1.0, seed=5
    )
    assert result.answered + result.abandoned == 20_000
    # At most one call a second is answered while calls come at two a second: at least half must hang up
    # (arrivals 20,000 over ~10,000 s; answers ≤ ~10,000 of them).
    assert result.abandoned > 20_000 * 0.4
    assert result.answered > 0
