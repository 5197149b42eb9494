"""``hub erlang`` and ``hub simulate`` as an analyst runs them (subprocesses of the real CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from routing.policy.erlang import ErlangC, agents_for

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "scenarios"


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("calls", "interval", "aht", "agents", "target"),
    [(100, 1800, 180, 14, 20), (250, 1800, 300, 48, 30), (12, 900, 240, 5, 20)],
)
def test_erlang_with_agents_matches_the_formulas(
    calls: int, interval: int, aht: int, agents: int, target: int
) -> None:
    done = hub(
        "erlang",
        *("--calls", str(calls), "--interval-seconds", str(interval), "--aht-seconds", str(aht)),
        *("--agents", str(agents), "--target-seconds", str(target), "--json"),
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    want = ErlangC.of(
        agents=agents, arrivals_per_second=calls / interval, aht_seconds=aht, within_seconds=target
    )
    assert got["agents"] == agents
    assert abs(got["p_wait"] - want.p_wait) < 0.001
    assert abs(got["service_level"] - want.service_level) < 0.001
    assert abs(got["asa_seconds"] - want.asa_seconds) < 0.001 * max(1.0, want.asa_seconds)
    assert abs(got["occupancy"] - calls / interval * aht / agents) < 0.001


def test_erlang_prints_the_design_example() -> None:
    done = hub(
        "erlang", "--calls", "100", "--interval-seconds", "1800", "--aht-seconds", "180", "--agents", "14"
    )
    assert done.returncode == 0, done.stderr
    assert "0.174" in done.stdout and "88.8 %" in done.stdout and "7.8 s" in done.stdout


def test_erlang_without_agents_finds_the_fewest_for_the_target() -> None:
    args = ("--calls", "100", "--interval-seconds", "1800", "--aht-seconds", "180", "--target-level", "0.9")
    done = hub("erlang", *args, "--json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["agents"] == agents_for(
        arrivals_per_second=100 / 1800, aht_seconds=180, within_seconds=20, target=0.9
    )
    assert got["service_level"] >= 0.9
    fewer = ErlangC.of(
        agents=got["agents"] - 1, arrivals_per_second=100 / 1800, aht_seconds=180, within_seconds=20
    )
    assert fewer.service_level < 0.9


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--agents", "9"), "queue grows without end"),
        (("--agents", "10"), "queue grows without end"),
        (("--agents", "0"), "--agents must be at least 1"),
        (("--target-level", "80"), "--target-level must be between 0 and 1"),
    ],
)
def test_erlang_bad_input_is_a_clear_error(args: tuple[str, ...], words: str) -> None:
    done = hub("erlang", "--calls", "100", "--interval-seconds", "1800", "--aht-seconds", "180", *args)
    assert done.returncode == 2
    assert words in done.stderr
    assert done.stdout == ""


def test_erlang_negative_aht_is_refused() -> None:
    done = hub("erlang", "--calls", "100", "--interval-seconds", "1800", "--aht-seconds", "-5")
    assert done.returncode == 2 and "--aht-seconds must be more than 0" in done.stderr


def test_simulate_compares_two_scenarios_and_writes_table_and_chart(tmp_path: Path) -> None:
    done = hub(
        "simulate",
        str(EXAMPLES / "baseline.yaml"),
        "--compare",
        str(EXAMPLES / "with-evening-agreement.yaml"),
        "--output",
        str(tmp_path),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    baseline, evening = json.loads(done.stdout)
    assert baseline["partners"]["chorley"]["offered"] == evening["partners"]["chorley"]["offered"] > 0
    assert evening["partners"]["chorley"]["service_level"] > baseline["partners"]["chorley"]["service_level"]
    assert evening["partners"]["hub"]["overflow_received"] > 0
    assert (tmp_path / "comparison.png").read_bytes().startswith(b"\x89PNG")
    # A person reads the table: partners by name (the definitions'), their slugs only in the JSON.
    table = (tmp_path / "comparison.txt").read_text()
    assert "Chorley Council" in table and "│ chorley " not in table
    assert baseline["partner_names"]["chorley"] == "Chorley Council"
    assert json.loads((tmp_path / "report-1.json").read_text())["name"] == "baseline"


def test_simulate_names_the_line_of_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (EXAMPLES / "baseline.yaml").read_text()
    text = text.replace("partners_from: ..", f"partners_from: {EXAMPLES.parent}")
    bad.write_text(
        text.replace("partner: south-ribble, service: general", "partner: preston, service: general")
    )
    done = hub("simulate", str(bad))
    assert done.returncode == 2
    assert f"{bad}, line" in done.stderr and "unknown partner 'preston'" in done.stderr


def test_simulate_says_how_blending_and_proficiency_were_modelled() -> None:
    done = hub(
        "simulate",
        str(EXAMPLES / "with-blending.yaml"),
        "--compare",
        str(EXAMPLES / "with-proficiency.yaml"),
    )
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.split())  # the table wraps; the words are what is checked
    assert (
        "Blending on, as live: an agent holding up to 3 web forms or emails at once is still offered a call"
        in out
    )
    assert "chorley/general, chorley/missed-bin offer work to the best-skilled idle agent" in out
    assert "2 chorley agents at general 5, waste 5, handling in ×0.75 the time" in out
