"""The session-start gc of one pytest (a worker of the suite, or a drill's own pytest started by a test)
never touches a run of another live process: the run's lock decides, whatever its owner label says;
a run whose process died is reaped. The engine here is a stand-in that lists labelled objects and
records removals (gc's removal path has its lab test in tests/lab/test_lab_lifecycle.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

from drillkit import labels as L
from drillkit.lab import gc


class Engine:
    def __init__(self, runs: dict[str, str]):
        self.runs, self.removed = runs, []
        self.api = SimpleNamespace(containers=self.containers, networks=lambda filters=None: [],
                                   volumes=lambda filters=None: {"Volumes": []})

    def containers(self, all=True, filters=None):
        label = (filters or {}).get("label", "")
        rows = [{"Id": run, "Labels": {L.RUN: run, L.OWNER: owner}} for run, owner in self.runs.items()]
        if "=" in label:
            rows = [r for r in rows if r["Id"] == label.split("=", 1)[1]]
        return rows


def test_a_live_workers_run_is_kept_and_a_dead_ones_is_reaped(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "RUN_DIR", tmp_path)
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from pathlib import Path; from drillkit import labels as L; "
                               f"L.RUN_DIR = Path({str(tmp_path)!r}); L.hold_run('dkLIVE'); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        host = L.owner_token().rsplit(":", 2)[0]
        # the live run's owner label names a pid that is not its holder (another worker's process tree):
        # the lock decides, not the label
        engine = Engine({"dkLIVE": f"{host}:999999:1", "dkDEAD": f"{host}:999998:1"})
        removed = []
        monkeypatch.setattr(gc, "remove_run", lambda c, run: removed.append(run) or (1, 0, 0))
        report = gc.collect(engine)
        assert report.kept_alive == ["dkLIVE"] and report.runs == ["dkDEAD"] and removed == ["dkDEAD"]
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    del engine.runs["dkDEAD"]                          # removed by the first gc
    assert gc.collect(engine).runs == ["dkLIVE"]      # its process gone: reaped by the next gc
