"""Allure helpers: the results-folder files, and labels/steps/attachments as allure-pytest writes them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from drillkit.report.allure_results import (
    LAB_ERROR, STACK_DEFECT, UNSTABLE, phase_title, write_categories_json, write_environment_properties,
    write_executor_json)

ALLURE_STATUSES = {"failed", "broken", "passed", "skipped", "unknown"}
CATEGORY_KEYS = {"name", "description", "messageRegex", "traceRegex", "matchedStatuses", "flaky"}


def category_for(categories, status: str, message: str, flaky: bool = False) -> set[str]:
    """Which categories Allure 2 would put a result in (it full-matches messageRegex, and a category
    with ``flaky`` takes only results whose flaky flag is the same)."""
    return {c["name"] for c in categories if status in c.get("matchedStatuses", ALLURE_STATUSES)
            and ("messageRegex" not in c or re.fullmatch(c["messageRegex"], message))
            and c.get("flaky") in (None, flaky)}


def test_categories_json_matches_allure_schema(tmp_path):
    categories = json.loads(write_categories_json(tmp_path).read_text())
    assert isinstance(categories, list)
    for category in categories:
        assert set(category) <= CATEGORY_KEYS and isinstance(category["name"], str)
        assert set(category["matchedStatuses"]) <= ALLURE_STATUSES
        re.compile(category["messageRegex"])
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
    ("failed", "drill failed: sessions lost: 5 of 20 (expected 0)", {STACK_DEFECT, UNSTABLE}),
])
def test_a_flaky_result_is_an_unstable_drill_besides_its_own_category(tmp_path, status, message, expected):
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
