"""Allure helpers: the results-folder files, and labels/steps/attachments as allure-pytest writes them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from drillkit.report.allure_results import (
    LAB_ERROR,
    STACK_DEFECT,
    UNSTABLE,
    environment_facts,
    mark_unstable,
    phase_title,
    unstable_drills,
    write_categories_json,
    write_environment_properties,
    write_executor_json,
)

ALLURE_STATUSES = {"failed", "broken", "passed", "skipped", "unknown"}
CATEGORY_KEYS = {"name", "description", "messageRegex", "traceRegex", "matchedStatuses", "flaky"}


def category_for(categories, status: str, message: str, flaky: bool = False) -> set[str]:
    """The category Allure 2 would put a result in: the first that matches (it full-matches
    messageRegex, and takes only results whose flaky flag equals the category's, default false)."""
    for c in categories:
        if (status in c.get("matchedStatuses", ALLURE_STATUSES)
                and ("messageRegex" not in c or re.fullmatch(c["messageRegex"], message))
                and bool(c.get("flaky", False)) == flaky):
            return {c["name"]}
    return set()


def test_categories_json_matches_allure_schema(tmp_path):
    categories = json.loads(write_categories_json(tmp_path).read_text())
    assert isinstance(categories, list)
    for category in categories:
        assert set(category) <= CATEGORY_KEYS and isinstance(category["name"], str)
        assert set(category["matchedStatuses"]) <= ALLURE_STATUSES
        re.compile(category.get("messageRegex", ""))
    stack = next(c for c in categories if c["name"] == STACK_DEFECT)
    assert stack["matchedStatuses"] == ["failed"]
    lab = next(c for c in categories if c["name"] == LAB_ERROR)
    assert lab["matchedStatuses"] == ["broken", "failed"]


@pytest.mark.parametrize(("status", "message", "expected"), [
    ("failed", "AssertionError: drill failed: recovery time 9.0 s (target < 5.0 s)", {STACK_DEFECT}),
    ("failed", "drill failed: 2 writes lost\nassert 2 == 0", {STACK_DEFECT}),
    ("failed", "drillkit.errors.LinkError: toxiproxy did not answer", {LAB_ERROR}),
    ("broken", "drillkit.errors.HealthCheckFailed: db not healthy after 60 s", {LAB_ERROR}),
    ("broken", "KeyError: 'x'", {LAB_ERROR}),
    ("failed", "AssertionError: assert 1 == 2", set()),   # Allure's own "Product defects"
    ("passed", "", set()),
])
def test_categories_sort_failures(tmp_path, status, message, expected):
    categories = json.loads(write_categories_json(tmp_path).read_text())
    assert category_for(categories, status, message) == expected


@pytest.mark.parametrize(("status", "message", "expected"), [
    ("passed", "", {UNSTABLE}),
    ("failed", "drill failed: sessions lost: 5 of 20 (expected 0)", {UNSTABLE}),
    ("broken", "HealthCheckFailed: db", {UNSTABLE}),
])
def test_a_flaky_result_is_an_unstable_drill_whatever_its_status(tmp_path, status, message, expected):
    categories = json.loads(write_categories_json(tmp_path).read_text())
    assert category_for(categories, status, message, flaky=True) == expected


def test_environment_properties(tmp_path):
    path = write_environment_properties(tmp_path, {"stack": "citizen-portal", "docker engine": "20.10",
                                                   "note": "a=b\nc"})
    assert path.read_text() == "stack=citizen-portal\ndocker\\ engine=20.10\nnote=a=b\\nc\n"


def test_executor_json_local_and_ci(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    local = json.loads(write_executor_json(tmp_path, build_name="nightly #7").read_text())
    assert local == {"name": "drillkit", "type": "local", "buildName": "nightly #7"}
    monkeypatch.setenv("CI", "true")
    ci = json.loads(write_executor_json(tmp_path, build_name="b", report_url="https://x/r").read_text())
    assert ci["type"] == "ci" and ci["reportUrl"] == "https://x/r"


def test_phase_titles():
    assert phase_title("steady").startswith("steady state")
    assert [phase_title(p).split(" —")[0] for p in ("inject", "observe", "recover", "verify")] == [
        "inject", "observe", "recover", "verify"]


def test_labels_steps_and_attachments_reach_allure_results(tmp_path):
    (tmp_path / "test_drill.py").write_text(textwrap.dedent("""
        from drillkit.report.allure_results import attach_text, attach_timeline, label_drill, phase_step
        from drillkit.report.chart import render_timeline_chart
        from drillkit.timeline import Timeline

        def test_drill(tmp_path):
            label_drill("citizen-portal", "kill", "primary dies under load", "critical")
            timeline = Timeline.from_records([{"kind": "header", "t": 0.0, "drill": "d"}])
            with phase_step("steady"):
                attach_text("note", "all quiet")
            with phase_step("verify"):
                attach_timeline(timeline, render_timeline_chart(timeline, tmp_path / "c.png"))
    """))
    results = tmp_path / "allure-results"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:drillkit", "-p", "no:cacheprovider",
                          f"--alluredir={results}", "test_drill.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    [result] = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    labels = {label["name"]: label["value"] for label in result["labels"]}
    assert labels["epic"] == "citizen-portal" and labels["feature"] == "kill"
    assert labels["story"] == "primary dies under load" and labels["severity"] == "critical"
    steps = [step["name"] for step in result["steps"]]
    assert steps[0].startswith("steady state") and steps[1].startswith("verify")
    attached = {a["name"]: a["type"] for a in result["steps"][1]["attachments"]}
    assert attached == {"timeline chart": "image/png", "timeline": "application/json"}


def test_verdicts_and_figures_on_the_drills_page_and_flaky_marking(tmp_path):
    """describe_drill puts the verdict sentence, a verdict table and the figures (as parameters that do
    not change Allure's history id) on the test; mark_unstable finds the result by its drill label."""
    (tmp_path / "test_drill.py").write_text(textwrap.dedent("""
        from drillkit.report.allure_results import describe_drill
        from drillkit.verdicts.base import Verdict

        def test_drill():
            verdicts = [Verdict("recovery time", "pass", "recovery time 1.20 s", 1.2, "s", "≤ 3 s"),
                        Verdict("sessions lost", "fail", "sessions lost: 5 of 20 (expected 0)", 5, "", "= 0")]
            describe_drill("drills/x.py::test_drill", verdicts,
                           {"recovery_time": 1.2, "availability": {"existing-sessions": 97.25},
                            "sessions_lost": 5, "writes_lost": None}, source="incident 2")
    """))
    results = tmp_path / "allure-results"

    def run():
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:drillkit", "-p", "no:cacheprovider",
                            f"--alluredir={results}", "test_drill.py"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return [json.loads(p.read_text()) for p in sorted(results.glob("*-result.json"))]
    [first] = run()
    assert "Defect found: sessions lost: 5 of 20 (expected 0)." in first["descriptionHtml"]
    assert "Rehearses: incident 2" in first["descriptionHtml"] and "<table>" in first["descriptionHtml"]
    params = {p["name"]: p["value"] for p in first["parameters"]}
    assert params == {"recovery time": "1.2 s", "availability existing-sessions": "97.25 %",
                      "sessions lost": "5", "writes lost": "—"}          # unmeasured is a dash, never 0
    assert all(p["excluded"] for p in first["parameters"])
    # a second run with other figures is the same test for Allure's history
    (tmp_path / "test_drill.py").write_text((tmp_path / "test_drill.py").read_text().replace("97.25", "99.5"))
    second = [r for r in run() if r["uuid"] != first["uuid"]][0]
    assert second["historyId"] == first["historyId"]

    assert mark_unstable(results, {"drills/x.py::test_drill"}) == 2
    assert all(json.loads(p.read_text())["statusDetails"]["flaky"] for p in results.glob("*-result.json"))
    assert mark_unstable(results, {"other"}) == 0


class _R:
    def __init__(self, name, outcome):
        self.name, self.outcome = name, outcome


def test_unstable_means_the_verdict_flip_flops_between_retries_or_runs():
    recent = {"turned-red": ["passed", "passed"], "back-and-forth": ["passed", "failed"],
              "lab-noise": ["passed", "broken", "passed"], "stays-red": ["failed", "failed"],
              "long-ago": ["passed", "failed", "passed", "passed", "passed", "passed", "passed"]}
    results = [_R("turned-red", "failed"), _R("back-and-forth", "passed"), _R("lab-noise", "passed"),
               _R("stays-red", "failed"), _R("long-ago", "passed"), _R("retried", "failed"),
               _R("retried", "passed"), _R("now-broken", "broken")]
    # turned red once is a defect, not instability; a lab error is no verdict; old flips age out
    assert unstable_drills(results, recent) == {"back-and-forth", "retried"}


class _Docker:
    class api:
        @staticmethod
        def inspect_image(tag):
            return {"Config": {"Labels": {"drillkit.content-hash": "c1f7e31166926a01ffff"}}}

    @staticmethod
    def version():
        return {"Version": "20.10.24", "ApiVersion": "1.41"}

    @staticmethod
    def info():
        return {"Name": "lab-host", "OperatingSystem": "Debian GNU/Linux 12", "NCPU": 2, "MemTotal": 24 * 2**30}


def test_environment_facts_name_stacks_images_switches_commit_and_engine():
    from drillkit.stack import load_stack
    spec = load_stack("registry", {"sessions": "node-local"})
    from drillkit.lab.engine import engine_facts
    facts = environment_facts({"registry": spec}, probe_interval=0.05, engine=engine_facts(_Docker(), {"registry": spec}),
                              root=Path(__file__).resolve().parents[2])
    assert facts["stacks"] == "registry" and facts["switch.registry.sessions"] == "node-local"
    images = [k for k in facts if k.startswith("image.")]
    assert "image.drillkit/toxiproxy:2.12.0" in images and len(images) >= 3
    assert set(facts[k] for k in images) == {"c1f7e31166926a01"}
    assert facts["docker.engine"] == "20.10.24 (API 1.41)"
    assert facts["docker.host"].startswith("lab-host (Debian GNU/Linux 12, 2 CPUs, 24 GiB)")
    assert len(facts["git.commit"].split()[0]) == 12
