"""Faults by hand on a `drill up` environment: inject, heal, `drill down` heals what is left, and a
drill run with --attach uses the running environment without removing it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drillkit import labels as L

ROOT = Path(__file__).resolve().parents[2]
TINY_ENV = "tests/lab/environments/tiny"
HEALTH = ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/', timeout=1)"]
pytestmark = pytest.mark.slow


def drill(report_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit.cli", *args, "--report-dir", str(report_dir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ})


def state(report_dir: Path, run: str) -> dict:
    """The run's ad-hoc state: beside its lock, wherever the commands run (not under report_dir)."""
    return json.loads(L.run_file(run, ".adhoc.json").read_text())


def test_inject_heal_attach_down(tmp_path, docker):
    up = drill(tmp_path, "up", TINY_ENV)
    assert up.returncode == 0, up.stderr
    run = re.search(r"^run (dk\w+): tiny is up", up.stdout, re.M)[1]
    try:
        web2 = f"{run}-tiny-web-2"
        # kill by hand, heal from another process: the node is back and healthy
        inj = drill(tmp_path, "inject", "kill", "web-2", "--run", run)
        assert inj.returncode == 0, inj.stderr
        fid = inj.stdout.split(":", 1)[0]
        assert fid == "f101"
        assert not docker.api.inspect_container(web2)["State"]["Running"]
        assert [f["fault_id"] for f in state(tmp_path, run)["faults"]] == ["f101"]
        healed = drill(tmp_path, "heal", fid, "--run", run)
        assert healed.returncode == 0 and "f101: healed" in healed.stdout, healed.stderr
        # heal waited for the node's own health test (run in it by the lab); Docker's scheduled
        # check (every 5 s) says so a few seconds later
        out = docker.api.exec_create(web2, HEALTH)
        docker.api.exec_start(out["Id"])
        assert docker.api.exec_inspect(out["Id"])["ExitCode"] == 0
        end = time.monotonic() + 15
        while docker.api.inspect_container(web2)["State"]["Health"]["Status"] != "healthy":
            assert time.monotonic() < end, "Docker never saw web-2 healthy after the heal"
            time.sleep(0.1)

        # a toxic on the link, and a drill run attached to the same environment meanwhile
        lat = drill(tmp_path, "inject", "latency", "client-web", "latency=200", "--run", run)
        assert lat.returncode == 0, lat.stderr
        attached = drill(tmp_path, "run", "--attach", run, "--json", "--no-html", "--no-pdf",
                         "tests/lab/drills/tiny_drills.py::test_tiny_spare_replica_kill")
        assert attached.returncode == 0, attached.stderr[-2000:]
        assert json.loads(attached.stdout)["result"] == "held"
        timeline = next((tmp_path / "timelines").glob("*.jsonl")).read_text()
        assert f'"run":"{run}"' in timeline          # the drill ran on the attached run
        rows = docker.api.containers(all=True, filters={"label": f"{L.RUN}={run}"})
        assert len(rows) == 4 and all(r["State"] == "running" for r in rows)   # not torn down
        toxics = drill(tmp_path, "heal", "--list", "--run", run)
        assert "f102" in toxics.stdout                 # the attached drill left the hand-made fault alone

        # the record: every inject and heal on the run's own timeline
        records = [json.loads(l) for l in (tmp_path / "adhoc" / f"{run}.jsonl").read_text().splitlines()]
        faults = [(r["event"], r["fault_id"]) for r in records if r["kind"] == "fault"]
        assert faults == [("inject", "f101"), ("heal", "f101"), ("inject", "f102")]
        assert sorted(r["t"] for r in records) == [r["t"] for r in records]   # one clock across processes
    finally:
        down = drill(tmp_path, "down", run)
    assert down.returncode == 0, down.stderr
    assert "f102: healed before removing" in down.stdout
    assert not docker.api.containers(all=True, filters={"label": f"{L.RUN}={run}"})
    assert not L.run_file(run, ".adhoc.json").exists()
