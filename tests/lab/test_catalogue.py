"""The drill catalogue, proven both ways as users run it: every drill passes on the sound stack and
fails on the variant with the defect it looks for, with the sentence that names the defect.

The sound drills run as `drill run` runs the catalogue: all in one pytest, which brings each
environment up once for every drill that wants it (reset between drills); each drill's outcome is read
from that run's JUnit file. A defect is a switch of its own environment: one run per defect.

(The node-kill drill has its own, more detailed test in test_node_kill_drill.py.)
"""

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
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
     r"drill failed: .*acknowledged writes lost: [1-9]\d* of \d+ \((?:\d+ after the heal; )?expected 0\), acknowledged from "
     r"[+-]?\d+\.\d s to [+-]?\d+\.\d s after the "),
    ("drills/test_registry_all_down.py", "notice=off",
     r"drill failed: .*when the service was down, \d+% of failed requests showed the disruption notice"),
    ("drills/test_booking_instance_kill.py", "booking=no-unique",
     r"drill failed: .*double bookings: \d+ slots? booked twice"),
]


def run(tmp_path: Path, *drills: str, switches: tuple[str, ...] = (), junit: Path | None = None) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "pytest", *drills, "-p", "no:cacheprovider", "--rootdir", str(ROOT),
           f"--drill-report-dir={tmp_path}"] + [f"--drill-switch={s}" for s in switches]
    cmd += [f"--junitxml={junit}"] if junit else []
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900 * len(drills))
    return proc.returncode, proc.stdout + proc.stderr


def outcomes(junit: Path) -> dict[str, str]:
    """drill file (drills/test_x.py) -> passed | failed | error | skipped, from a JUnit file."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        file = case.get("classname", "").replace(".", "/") + ".py"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[file] = kinds[0] if kinds else "passed"
    return out


@pytest.fixture(scope="module")
def sound_catalogue(tmp_path_factory) -> tuple[int, str, dict[str, str]]:
    """Every sound drill of the catalogue in one pytest (as `drill run` runs them)."""
    tmp = tmp_path_factory.mktemp("sound")
    code, out = run(tmp, *dict.fromkeys(c[0] for c in CATALOGUE), junit=tmp / "junit.xml")
    return code, out, outcomes(tmp / "junit.xml") if (tmp / "junit.xml").exists() else {}


@pytest.mark.parametrize("drill_file", [c[0] for c in CATALOGUE], ids=lambda d: Path(d).stem.removeprefix("test_"))
def test_drill_holds_on_the_sound_stack(sound_catalogue, drill_file):
    code, out, held = sound_catalogue
    assert held.get(drill_file) == "passed", f"{drill_file}: {held.get(drill_file, 'not run')}\n{out[-3000:]}"
    assert code == 0 or any(v != "passed" for v in held.values()), out[-3000:]


# the long tier: tests/lab/test_db_failover_drill.py runs the DB failover drill with this defect in every
# change's suite, its lost writes against the test's own count
LONG = {("drills/test_registry_db_failover.py", "replication=async")}


@pytest.mark.parametrize("drill_file, switch, failure",
                         [pytest.param(*c, marks=[pytest.mark.long] if c[:2] in LONG else [],
                                       id=f"{Path(c[0]).stem.removeprefix('test_')}-{c[1]}") for c in CATALOGUE])
def test_drill_catches_its_defect(tmp_path, drill_file, switch, failure):
    code, out = run(tmp_path, drill_file, switches=(switch,))
    assert code == 1, out[-3000:]
    assert re.search(failure, out), out[-3000:]
