"""ci/drills.sh end to end on the smallest drills (tests/lab/drills/tiny_drills.py), as a pipeline runs it:
exit codes, result.json, the job summary and outputs, the site the pipelines publish, every report
path the templates name — and nothing of the runs left on the engine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lab_support import run_leftovers, runs_in_reports

ROOT = Path(__file__).resolve().parents[2]
TINY_DRILLS = "tests/lab/drills/tiny_drills.py"
pytestmark = pytest.mark.slow


def ci_script(reports: Path, gh: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRILLKIT_REPORT_DIR": str(reports), "DRILL_ENVIRONMENTS": "tests/lab/environments/tiny",
           "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(gh / "summary.md"),
           "GITHUB_OUTPUT": str(gh / "output")}
    env.pop("DRILL_NO_FAIL", None)
    return subprocess.run([str(ROOT / "ci" / "drills.sh"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def wait_for_injection(timelines: Path, deadline: float) -> bool:
    """True once a drill's timeline records an injected fault (the moment to stop the run)."""
    import time
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for f in timelines.glob("*.jsonl") if timelines.is_dir() else []:
            if '"event":"inject"' in f.read_text(encoding="utf-8", errors="replace"):
                return True
        time.sleep(0.2)
    return False


def test_ci_script_end_to_end(tmp_path, docker):
    reports, gh = tmp_path / "reports", tmp_path / "gh"
    gh.mkdir()

    # 1. a drill that holds: exit 0, and everything a pipeline publishes
    held = ci_script(reports, gh, f"{TINY_DRILLS}::test_tiny_spare_replica_kill")
    assert held.returncode == 0, held.stderr[-3000:]
    result = json.loads((reports / "result.json").read_text())
    assert result["exit_code"] == 0 and result["result"] == "held" and result["counts"]["passed"] == 1
    drill = result["drills"][0]
    assert drill["held"] is True and drill["stack"] == "tiny"
    figures = drill["figures"]   # recovery measured, or None with its reason (no outage seen); writes: none
    assert (figures["recovery_time"] is not None or (figures.get("notes") or {}).get("recovery_time"))
    assert figures["writes_lost"] is None
    assert "result=held" in (gh / "output").read_text() and "exit_code=0" in (gh / "output").read_text()
    assert "Every drill held" in (gh / "summary.md").read_text()
    for made in ("site/index.html", "site/management.pdf", "site/allure-report/index.html", "junit.xml",
                 "history.jsonl", "allure-report/history", "drills.env", "drill-run.log"):
        assert (reports / made).exists(), made
    # every reports/ path the templates name exists after a run
    for template in ("ci/github/drills.yml", "ci/gitlab/drills.gitlab-ci.yml"):
        text = json.dumps(yaml.safe_load((ROOT / template).read_text()))
        for p in set(re.findall(r"reports/[\w./-]*", text)):
            assert (reports.parent / p.rstrip("/")).exists(), f"{template} names {p}"

    # 2. a drill that finds a defect: exit 1, the sentence as an annotation, the stack step fails
    defect = ci_script(reports, gh, f"{TINY_DRILLS}::test_tiny_entry_replica_kill")
    assert defect.returncode == 1, defect.stderr[-3000:]
    assert re.search(r"::error title=Defect found: tiny: the entry replica is lost::.*recover", defect.stdout)
    assert "Traceback" not in defect.stderr
    assert ci_script(reports, gh, "verdict", "defect").returncode == 1
    assert ci_script(reports, gh, "verdict", "lab").returncode == 0
    history = [json.loads(l) for l in (reports / "history.jsonl").read_text().splitlines()]
    assert [h["outcome"] for h in history] == ["passed", "failed"]
    page = (reports / "management.html").read_text()
    assert "tiny" in page and "Trend over the last 2 run(s)" in page and page.count("<circle") >= 2

    # 3. the run stopped by SIGTERM (a cancelled job) heals, removes its lab and exits 143
    proc = subprocess.Popen([sys.executable, "-m", "drillkit.cli", "run", "--json", "--no-html", "--no-pdf",
                             "-e", "tests/lab/environments/tiny", "--report-dir", str(tmp_path / "stopped"),
                             f"{TINY_DRILLS}::test_tiny_entry_replica_kill"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for_injection(tmp_path / "stopped" / "timelines", deadline=180), "the drill never injected"
    proc.terminate()
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 143, err[-2000:]
    assert json.loads(out)["result"] == "interrupted"
    runs = runs_in_reports(tmp_path / "stopped")
    assert runs and not run_leftovers(docker, runs), "a stopped run left containers behind"
