"""A scenario on real containers: a guard trips, the schedule stops early, every fault heals."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from drillkit.drill import DrillFailed
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario

pytestmark = [pytest.mark.lab, pytest.mark.slow]

COMPOSE = Path(__file__).resolve().parents[2] / "environments" / "registry" / "compose.yaml"

# The entry point dies for 30 s: the probe's availability falls to 0 and the 1 s guard must end it early.
SCENARIO = f"""\
scenario: entry point kill, stopped by a guard
environment: {COMPOSE}
probe: {{interval: 0.05, path: /version}}
steady_state: {{duration: 1s, availability: {{probe: 0.99}}}}
faults:
  - {{kind: kill, target: {{service: lb}}, at: 0s, for: 30s}}
observe: 30s
guards:
  - {{population: probe, availability_below: 0.5, for: 1s}}
expect:
  availability: {{probe: 0.0}}
"""


@pytest.mark.drill("registry", fault="kill", scenario="guard trips and heals", severity="normal")
def test_guard_trips_stops_schedule_and_heals(drill, tmp_path):
    f = tmp_path / "guard.yaml"
    f.write_text(SCENARIO)
    sc = load_scenario(f)
    t0 = time.monotonic()
    with pytest.raises(DrillFailed, match=r"^drill failed: guard tripped at .* probe availability \d+% "
                                          r"over the last 1 s \(below 50%\); schedule stopped, all faults healed"):
        run_scenario(sc, drill)
    assert time.monotonic() - t0 < 25, "the guard did not stop the 30 s schedule early"
    assert drill.faults and all(fault.healed for fault in drill.faults)
    notes = [r["text"] for r in drill.timeline.of("note")]
    assert any(n.startswith("guard tripped") for n in notes), notes
    assert drill.env.is_running(drill.env.node("lb", 1))
