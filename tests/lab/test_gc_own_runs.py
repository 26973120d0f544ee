"""Whose dead runs a run reaps, against the engine: `drill run` and the pytest plugin's session
start remove the dead runs made for their own report folder only — never other people's, nor runs
made before runs carried an origin — and ``DRILLKIT_NO_GC`` turns both off. (`drill gc` and
`drill run --gc` reap every dead run; not run here, it would reap other people's on a shared engine.)

A dead run here is one labelled network whose owner pid does not exist: no container starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drillkit import labels as L

ROOT = Path(__file__).resolve().parents[2]


def dead_run(docker, origin: str | None) -> str:
    run = L.new_run_id()
    labels = {L.RUN: run, L.ENVIRONMENT: "gc-scope", L.OWNER: f"{L.owner_token().rsplit(':', 2)[0]}:999999:1"}
    if origin is not None:
        labels[L.ORIGIN] = origin
    docker.api.create_network(f"{run}-gc-scope", labels=labels)
    return run


def present(docker, run: str) -> bool:
    return bool(docker.api.networks(filters={"label": f"{L.RUN}={run}"}))


def command(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "DRILLKIT_NO_GC"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**environ, **env})


@pytest.fixture
def runs(docker):
    made: list[str] = []
    yield made
    for run in made:
        for n in docker.api.networks(filters={"label": f"{L.RUN}={run}"}):
            docker.api.remove_network(n["Id"])


def test_drill_run_reaps_only_the_dead_runs_of_its_report_folder(tmp_path, docker, runs):
    reports, nothing = tmp_path / "reports", tmp_path / "nothing"
    nothing.mkdir()
    mine = dead_run(docker, L.origin_of(reports))
    theirs = dead_run(docker, L.origin_of(tmp_path / "someone-else" / "reports"))
    older = dead_run(docker, None)
    runs.extend([mine, theirs, older])
    args = ["-m", "drillkit.cli", "run", "--no-html", "--no-pdf", "--report-dir", str(reports), str(nothing)]

    held = command(*args, DRILLKIT_NO_GC="1")
    assert present(docker, mine), held.stdout + held.stderr          # DRILLKIT_NO_GC: nothing reaped

    r = command(*args)
    assert not present(docker, mine), r.stdout + r.stderr
    assert present(docker, theirs) and present(docker, older)
    assert f"drill: gc: removed 0 container(s), 1 network(s), 0 volume(s) of 1 dead run(s): {mine}" in r.stdout
    assert theirs not in r.stdout + r.stderr and older not in r.stdout + r.stderr


def test_the_plugin_reaps_only_the_dead_runs_of_its_report_folder(tmp_path, docker, runs):
    reports = tmp_path / "reports"
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    mine = dead_run(docker, L.origin_of(reports))
    theirs = dead_run(docker, L.origin_of(tmp_path / "someone-else" / "reports"))
    runs.extend([mine, theirs])
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", f"--drill-report-dir={reports}",
            str(tmp_path / "test_nothing.py")]

    held = command(*args, DRILLKIT_NO_GC="1")
    assert held.returncode == 0 and present(docker, mine), held.stdout

    r = command(*args)
    assert r.returncode == 0, r.stdout
    assert not present(docker, mine) and present(docker, theirs)
