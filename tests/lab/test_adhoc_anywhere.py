"""Faults by hand follow the run, not the directory: `drill inject`, `drill heal` and `drill down`
find what a heal needs from any directory (it is kept beside the run's lock), the timeline stays
where `drill up` was asked to write it, `drill down` heals newest first — faults on different nodes
and links at once — and a removed run's faults are forgotten."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lab_support import TINY, run_objects

from drillkit import labels as L

ROOT = Path(__file__).resolve().parents[2]


def drill(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ})


@pytest.fixture
def up(tmp_path, docker):
    """`drill up` of the tiny environment from tmp_path/home (reports default to home/reports)."""
    home = tmp_path / "home"
    home.mkdir()
    r = drill(home, "up", str(TINY))
    assert r.returncode == 0, r.stderr
    run = re.search(r"^run (dk\w+): tiny is up", r.stdout, re.M)[1]
    yield home, run
    if run_objects(docker, run)[0]:
        drill(ROOT, "down", run)


def heals(timeline: Path) -> dict[str, tuple[float, float]]:
    """fault id -> (heal called, heal returned) from the run's timeline."""
    out = {}
    for line in timeline.read_text().splitlines():
        r = json.loads(line)
        if r.get("kind") == "fault" and r.get("event") == "heal":
            out[r["fault_id"]] = (r["t"], r["t"] + r["detail"]["api_seconds"])
    return out


def test_inject_heal_and_down_from_other_directories(tmp_path, docker, up):
    home, run = up
    other, third = tmp_path / "other", tmp_path / "third"
    other.mkdir()
    third.mkdir()
    inj = drill(other, "inject", "pause", "web-2", "--run", run)
    assert inj.returncode == 0, inj.stderr
    assert docker.api.inspect_container(f"{run}-tiny-web-2")["State"]["Paused"]
    listed = drill(third, "heal", "--list", "--run", run)
    assert listed.returncode == 0 and listed.stdout.startswith("f101  "), listed.stdout + listed.stderr

    down = drill(third, "down", run)
    assert down.returncode == 0, down.stderr
    assert "f101: healed before removing run" in down.stdout
    assert run_objects(docker, run) == ([], [], [])
    # the record is where `drill up` wrote it; nothing was written where the other commands ran
    assert list(heals(home / "reports" / "adhoc" / f"{run}.jsonl")) == ["f101"]
    assert not (other / "reports").exists() and not (third / "reports").exists()
    # and the removed run is forgotten, wherever one asks
    assert not L.run_file(run, ".adhoc.json").exists()
    after = drill(other, "heal", "--list", "--run", run)
    assert after.returncode == 0 and after.stdout.strip() == f"no active fault on run {run}", after.stdout


def test_down_heals_newest_first_and_independent_faults_at_once(docker, up):
    home, run = up
    for args in (["latency", "client-web", "latency=100"], ["kill", "web-1"], ["kill", "web-2"],
                 ["bandwidth", "client-web", "rate=1000"]):
        r = drill(home, "inject", *args, "--run", run)
        assert r.returncode == 0, r.stderr
    down = drill(home, "down", run)
    assert down.returncode == 0, down.stderr
    healed = heals(home / "reports" / "adhoc" / f"{run}.jsonl")
    assert sorted(healed) == ["f101", "f102", "f103", "f104"]
    # the link's newer toxic first, its older one after it
    assert healed["f101"][0] >= healed["f104"][1]
    # the two nodes at once: each heal began before the other returned
    (a0, a1), (b0, b1) = healed["f102"], healed["f103"]
    assert a0 < b1 and b0 < a1, healed
