"""`drill list`: drills and scenarios with stack, fault, severity, source and last verdict; nothing
starts and no engine is asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def drill_list(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "drillkit.cli", "list", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120,
                          env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})


def test_the_catalogue_with_its_last_verdicts(tmp_path):
    (tmp_path / "history.jsonl").write_text(
        json.dumps({"date": "2026-03-11T06:00:00", "drill": "drills/test_registry_node_kill.py::test_registry_node_kill",
                    "outcome": "passed"}) + "\n"
        + json.dumps({"date": "2026-03-12T06:00:00", "drill": "drills/test_registry_node_kill.py::test_registry_node_kill",
                      "outcome": "failed"}) + "\n{torn")
    r = drill_list("--json", "--report-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    drills = {d["name"]: d for d in json.loads(r.stdout)["drills"]}
    node_kill = drills["drills/test_registry_node_kill.py::test_registry_node_kill"]
    assert (node_kill["stack"], node_kill["fault"], node_kill["severity"]) == ("registry", "node kill", "critical")
    assert node_kill["source"] and node_kill["last_verdict"] == "defect found"
    assert node_kill["last_run"] == "2026-03-12T06:00:00"
    scenario = drills["scenarios/registry_node_kill.yaml::registry_node_kill"]
    assert scenario["kind"] == "scenario" and scenario["source"].startswith("SCENARIOS.md")
    assert drills["drills/test_booking_instance_kill.py::test_booking_instance_kill"]["last_verdict"] is None
    python_drills = [d for d in drills.values() if d["kind"] == "python"]
    assert python_drills and all(d["source"] for d in python_drills)   # every shipped drill names its incident


def test_plain_table_when_not_a_terminal():
    r = drill_list("drills/test_registry_zone_outage.py")
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["drill", "stack", "fault", "severity", "source incident", "last verdict"]
    assert "power loss" in lines[1] and lines[-1] == "1 drill(s)"


def test_a_broken_scenario_is_named_in_one_line(tmp_path):
    bad = tmp_path / "scenarios" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("scenario: x\nenvironment: registry\nfaults: [{kind: explode, target: {service: app}}]\n")
    r = drill_list(str(bad))
    assert r.returncode == 2
    assert "not a drill" in r.stderr and "explode" in r.stderr and "Traceback" not in r.stderr
