"""The drill catalogue, proven both ways as users run it: every drill passes on the sound stack and
fails on the variant with the defect it looks for, with the sentence that names the defect.

(The node-kill drill has its own, more detailed test in test_node_kill_drill.py.)
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CATALOGUE = [
    # (drill, defect switch, what the failure must say)
    ("drills/test_registry_zone_outage.py", "sessions=node-local",
     r"drill failed: .*sessions lost: \d+ of 20 \(expected 0\)"),
    ("drills/test_registry_login_path.py", "db_pool=no-timeout",
     r"drill failed: .*new-logins waited \d+\.\d\d s for an answer \(median, failures included\)"),
    ("drills/test_registry_store_partition.py", "lb_health=slow",
     r"drill failed: .*(recovery time \d+(\.\d+)? s: \d+ of 20 existing-sessions users hit, .*\(target ≤ 6 s\)"
     r"|not recovered: \d+ of 20 existing-sessions users still failing)"),
    ("drills/test_registry_db_failover.py", "replication=async",
     r"drill failed: .*acknowledged writes lost: [1-9]\d* of \d+ \(expected 0\), acknowledged from "
     r"[+-]?\d+\.\d s to [+-]?\d+\.\d s after the "),
    ("drills/test_registry_all_down.py", "notice=off",
     r"drill failed: .*when the service was down, \d+% of failed requests showed the disruption notice"),
    ("drills/test_booking_instance_kill.py", "booking=no-unique",
     r"drill failed: .*double bookings: \d+ slots? booked twice"),
]


def run(tmp_path: Path, drill: str, *switches: str) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "pytest", drill, "-p", "no:cacheprovider", "--rootdir", str(ROOT),
           f"--drill-report-dir={tmp_path}"] + [f"--drill-switch={s}" for s in switches]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("drill_file", [c[0] for c in CATALOGUE], ids=lambda d: Path(d).stem.removeprefix("test_"))
def test_drill_holds_on_the_sound_stack(tmp_path, drill_file):
    code, out = run(tmp_path, drill_file)
    assert code == 0, out[-3000:]


@pytest.mark.parametrize("drill_file, switch, failure", CATALOGUE,
                         ids=[f"{Path(c[0]).stem.removeprefix('test_')}-{c[1]}" for c in CATALOGUE])
def test_drill_catches_its_defect(tmp_path, drill_file, switch, failure):
    code, out = run(tmp_path, drill_file, switch)
    assert code == 1, out[-3000:]
    assert re.search(failure, out), out[-3000:]
