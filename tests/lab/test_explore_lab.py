"""drill explore end to end on real containers, on the smallest stack that shows a seeded defect: the
library-loans example with sessions in node memory (a node that dies takes its readers' sessions).

- with the defect, `drill explore` (the command as users run it) finds a failing schedule, confirms it
  (2 of 2), shrinks it to one fault on an app node, writes it as a scenario — and `drill run` of that
  file reproduces the defect;
- the same exploration on the sound stack (sessions in Redis) finds nothing and says what it covered.

Budgets are in trials, so the test does not depend on this machine's speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "examples" / "library-loans" / "environments" / "library-loans" / "compose.yaml"


def exploration(tmp_path: Path, trials: int) -> Path:
    path = tmp_path / "library_explore.yaml"
    path.write_text(f"""scenario: "library: whatever fails among two app nodes, readers keep their sessions"
environment: {os.path.relpath(LIBRARY, tmp_path)}
users: {{readers: 8}}
probe: false
steady_state:
  duration: 2s
  availability: {{existing-sessions: 0.95}}
observe: 1s
recover: 1s
expect:
  sessions_lost: 0
  writes_lost: {{max: 0, ground_truth: loans}}
explore:
  targets: [db, app-1, app-2]      # pausing the database (the first schedule tried) loses nothing
  kinds: [pause, kill]
  max_faults: 2
  at: [0s, 1s]
  for: [1s, 2s]
  budget: {{trials: {trials}}}
  seed: 3
""")
    return path


def drill(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_explore_finds_shrinks_and_writes_a_scenario_that_drill_run_reproduces(tmp_path):
    reports, catalogue = tmp_path / "reports", tmp_path / "scenarios"
    r = drill("explore", str(exploration(tmp_path, 16)), "-s", "sessions=node-memory", "--report-dir", str(reports),
              "--write-to", str(catalogue), "--no-html", "--no-pdf", "--json")
    assert r.returncode == 1, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    assert doc["result"] == "defect" and doc["drills"][0]["outcome"] == "failed"
    found = doc["explore"]["finding"]
    assert found is not None, r.stderr[-3000:]
    assert found["reproduced"] == [2, 2]
    # one fault on an app node: readers whose node is away are sent to another, which does not know them
    assert found["size"] == 1 and found["faults"][0]["target"]["service"] == "app", found
    assert found["first_size"] >= found["size"]
    assert "sessions_lost" in found["broken"], found
    assert any("sessions lost" in v for v in found["verdicts"]), found
    written = Path(found["scenario"])
    assert written.parent == reports / "found" and written.name.startswith("library-loans-")
    copy = Path(found["copies"][0])
    assert copy.parent == catalogue and yaml.safe_load(copy.read_text())["faults"] == found["faults"]
    scenario = yaml.safe_load(written.read_text())
    assert scenario["switches"] == {"sessions": "node-memory"} and "explore" not in scenario
    assert "trial" in r.stderr and "best so far" in r.stderr                     # live progress
    summary = (reports / "summary.md").read_text()
    assert "## Explored" in summary and found["schedule"] in summary
    assert any((reports / "allure-results").glob("*-result.json"))
    assert (reports / "management.html").is_file() and "Explored" in (reports / "management.html").read_text()
    assert list((reports / "explore-db").iterdir())                              # the next run replays it first

    again = drill("run", str(written), "--report-dir", str(tmp_path / "rerun"), "--no-html", "--no-pdf", "--json")
    assert again.returncode == 1, again.stderr[-3000:]
    run = json.loads(again.stdout)
    assert [d["outcome"] for d in run["drills"]] == ["failed"]
    assert any("sessions lost" in s for s in run["drills"][0]["sentences"]), run["drills"][0]


def test_the_same_exploration_on_the_sound_stack_finds_nothing(tmp_path):
    reports = tmp_path / "reports"
    r = drill("explore", str(exploration(tmp_path, 4)), "--report-dir", str(reports), "--no-html", "--no-pdf",
              "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    data = doc["explore"]
    assert doc["result"] == "held" and data["finding"] is None and not data["intermittent"] and not data["others"]
    assert data["coverage"]["runs"] == 4 and data["coverage"]["not_judged"] == 0
    assert set(data["coverage"]["kinds"]) <= {"pause", "kill"} and data["coverage"]["kinds"]
    assert any(t.startswith("app-") for t in data["coverage"]["targets"])
    assert data["measured"]["resets"]["count"] == 3                               # one environment, reset between trials
    assert not (reports / "found").exists()
    assert "nothing failed" in (reports / "summary.md").read_text()
