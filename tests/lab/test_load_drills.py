"""The load drills of the catalogue, proven both ways as users run them (like test_catalogue.py):

- booking at ×4 quarter demand: more instances help with ``allocation: scalable`` and do not with
  ``restricted`` (the product's global lock);
- eID surge ×20: absorbed within 15 s with the login's bulkhead (``db_pool: timeout``), not without it
  (``no-timeout``).

Each figure is checked against the test's own count in the drill's timeline file. The kinds the drills
name (booking ``citizens-any-day``, identity ``logins``) are the environments' ``x-drillkit.users``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.alone]   # thousands of requests/s: CPU-heavy

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, drill: str, *switches: str) -> tuple[int, str, list[dict]]:
    cmd = [sys.executable, "-m", "pytest", drill, "-p", "no:cacheprovider", "--rootdir",
           str(ROOT), f"--drill-report-dir={tmp_path}"] + [f"--drill-switch={s}" for s in switches]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    (timeline,) = (tmp_path / "timelines").glob("*.jsonl")
    recs = [json.loads(x) for x in timeline.read_text().splitlines() if x.strip()]
    return proc.returncode, proc.stdout + proc.stderr, recs


def served_per_s(recs: list[dict], label: str) -> float:
    """Own count: arrivals of the load whose every request succeeded, over the load's length."""
    start = next(r for r in recs if r["kind"] == "load" and r["event"] == "start" and r["label"] == label)
    by: dict[int, bool] = {}
    for r in recs:
        if r["kind"] == "probe" and r.get("load") == label:
            by[r["arrival"]] = by.get(r["arrival"], True) and r["ok"]
    return sum(by.values()) / start["duration"]


@pytest.mark.parametrize("allocation, helps", [("scalable", True), ("restricted", False)])
def test_booking_x4_scaleout(tmp_path, allocation, helps):
    code, out, recs = run(tmp_path, "drills/test_booking_x4_scaleout.py", f"allocation={allocation}")
    assert code == (0 if helps else 1), out[-3000:]
    v = next(r for r in recs if r["kind"] == "verdict" and r["key"] == "scaleout_gain")
    five, ten = served_per_s(recs, "5 instances"), served_per_s(recs, "10 instances")
    assert v["details"]["before"]["served_per_s"] == pytest.approx(five, abs=0.01)
    assert v["details"]["after"]["served_per_s"] == pytest.approx(ten, abs=0.01)
    if not helps:
        assert re.search(r"drill failed: more instances do not help: [\d.]+ → [\d.]+ served/s", out), out[-3000:]
        assert ten / five < 1.10
    nodes = {r["node"] for r in recs if r["kind"] == "probe" and r.get("load") == "10 instances" and r["node"]}
    assert len(nodes) >= 8, nodes                      # the new instances served too


@pytest.mark.parametrize("db_pool, absorbed", [("timeout", True), ("no-timeout", False)])
def test_identity_surge(tmp_path, db_pool, absorbed):
    code, out, recs = run(tmp_path, "drills/test_identity_surge.py", f"db_pool={db_pool}")
    assert code == (0 if absorbed else 1), out[-3000:]
    v = next(r for r in recs if r["kind"] == "verdict" and r["key"] == "absorption_time")
    if absorbed:
        assert v["value"] is not None and v["value"] <= 15
        # own count: in the 5 s from where it was back, ≥ 60 % of the answered logins succeeded
        back = v["details"]["back_at"]
        window = [r for r in recs if r["kind"] == "probe" and r["population"] == "new-logins"
                  and back <= r["t_end"] < back + 5]
        assert window and sum(r["ok"] for r in window) / len(window) >= 0.60
    else:
        assert re.search(r"drill failed: surge (not absorbed|absorbed after [\d.]+ s)", out), out[-3000:]
    nodes = {r["node"] for r in recs if r["kind"] == "probe" and r["node"]}
    assert nodes == {"app-1", "app-2", "app-3", "app-4"}, nodes   # the instances added during the drill served logins
