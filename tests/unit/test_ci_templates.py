"""The pipeline templates in ci/: valid YAML, the triggers they promise, and every script and source
path they name exists (paths under reports/ and .cache/ are made by the run: tests/lab/test_ci_script.py
checks those after running ci/drills.sh)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "ci" / "github" / "drills.yml"
GITLAB = ROOT / "ci" / "gitlab" / "drills.gitlab-ci.yml"
MADE_BY_THE_RUN = ("reports", ".cache", ".venv", "public")


def named_paths(doc) -> set[str]:
    """Strings in the template that look like repository paths (scripts, cached and uploaded files)."""
    found: set[str] = set()

    def walk(x):
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, str):
            for token in re.findall(r"(?<![\w$/.-])((?:ci|scripts|reports|\.cache|\.venv|environments|public)"
                                    r"/[\w./*-]*|pyproject\.toml)", x):
                found.add(token.rstrip("/"))
    walk(doc)
    return found


def scripts_run(doc) -> list[str]:
    out = []

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k in ("run", "script") and isinstance(v, (str, list)):
                    out.extend([v] if isinstance(v, str) else v)
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(doc)
    return out


def check_paths(doc):
    paths = named_paths(doc)
    assert "ci/drills.sh" in paths
    for p in paths:
        if p.split("/")[0] in MADE_BY_THE_RUN:
            continue
        if "*" in p:
            assert list(ROOT.glob(p)), p
        else:
            assert (ROOT / p).exists(), f"the template names {p}, which does not exist"
    assert os.access(ROOT / "ci" / "drills.sh", os.X_OK)


def test_github_workflow():
    doc = yaml.safe_load(GITHUB.read_text())
    on = doc.get("on", doc.get(True))            # YAML 1.1 reads the key `on` as true
    assert on["schedule"][0]["cron"].count(" ") == 4
    assert set(on["workflow_dispatch"]["inputs"]) == {"drills", "switches", "environments"}
    steps = doc["jobs"]["drills"]["steps"]
    names = [s.get("name", "") for s in steps]
    assert "Lab: the drills could run" in names and "Stack: every drill held" in names   # two distinct failures
    uses = " ".join(s.get("uses", "") for s in steps)
    for action in ("actions/cache", "actions/upload-artifact", "actions/upload-pages-artifact"):
        assert action in uses
    history = [s for s in steps if "history" in s.get("name", "")]
    assert all("reports/allure-report/history" in s["with"]["path"] for s in history)   # Allure trend carried
    assert all(r.startswith("ci/drills.sh") for r in scripts_run(doc))
    check_paths(doc)


def test_gitlab_pipeline():
    doc = yaml.safe_load(GITLAB.read_text())
    assert doc["stages"] == ["drills", "verdict", "publish"]
    rules = doc[".drill-rules"]["rules"]
    assert {'$CI_PIPELINE_SOURCE == "schedule"', '$CI_PIPELINE_SOURCE == "web"'} <= {r["if"] for r in rules}
    drills = doc["drills"]
    assert drills["artifacts"]["when"] == "always" and drills["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    assert any(c.get("key") == "drill-history" for c in drills["cache"])
    assert doc["pages"]["artifacts"]["paths"] == ["public"]
    assert doc["lab"]["script"] == ["ci/drills.sh verdict lab"]
    assert doc["stack"]["script"] == ["ci/drills.sh verdict defect"]
    check_paths(doc)


def test_the_script_parses_and_its_verdict_reads_a_result(tmp_path):
    subprocess.run(["bash", "-n", str(ROOT / "ci" / "drills.sh")], check=True)
    result = tmp_path / "result.json"
    env = {**os.environ, "DRILLKIT_REPORT_DIR": str(tmp_path)}

    def verdict(what):
        return subprocess.run([str(ROOT / "ci" / "drills.sh"), "verdict", what], env=env, capture_output=True,
                              text=True, timeout=60)
    assert verdict("lab").returncode == 2                        # no result: the drills did not run
    result.write_text('{"result": "defect", "counts": {"passed": 1, "failed": 1, "broken": 0}, "drills": '
                      '[{"name": "d", "title": "node kill", "outcome": "failed", "sentences": ["sessions lost: 5"]}]}')
    assert verdict("lab").returncode == 0
    r = verdict("defect")
    assert r.returncode == 1 and "node kill: sessions lost: 5" in r.stdout
    result.write_text('{"result": "lab-error", "counts": {"broken": 1}, "errors": [], "drills": '
                      '[{"name": "d", "outcome": "broken", "sentences": ["db not healthy"]}]}')
    r = verdict("lab")
    assert r.returncode == 2 and "db not healthy" in r.stdout
    assert verdict("defect").returncode == 0
    # not judged (a steady state did not hold before any fault, exit 2): no verdict on the stack either
    result.write_text('{"result": "not-judged", "counts": {"not-judged": 1}, "errors": [], "drills": '
                      '[{"name": "d", "outcome": "not-judged", "sentences": ["steady state: 0.0% of 30"]}]}')
    r = verdict("lab")
    assert r.returncode == 2 and "not judged" in r.stdout and "steady state: 0.0% of 30" in r.stdout
    assert verdict("defect").returncode == 0


def test_readme_says_how_to_adopt_in_five_lines():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Scheduled drills", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1].strip().splitlines()[1:]   # the fenced block, without its language
    assert len(block) <= 5 and any("ci/github/drills.yml" in l for l in block)
