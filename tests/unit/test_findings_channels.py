"""Findings (what the timeline shows that no verdict asked about) reach every channel — the drill's
timeline, its result, summary.md/json, history.jsonl, the management page, the console line — and
fail the drill only where it opted in (`findings: fail`, marker findings="fail")."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from drillkit.drill import DrillFailed, drill_run, findings_policy
from drillkit.progress import verdict_lines
from drillkit.report.history import append_trend
from drillkit.report.management import build_page, rows_from_summary
from drillkit.report.summary import write_summary


def env():
    spec = SimpleNamespace(name="bench", stack="bench", chosen={}, services={})
    return SimpleNamespace(spec=spec, run_id="dk-test", backend=SimpleNamespace(name="docker"),
                           logs=lambda *a, **k: "")


def writers_never_back(tl):
    """Writers fine before a fault, then none of 30 requests succeeds over 6 s after its heal."""
    for i in range(30):
        tl.probe(population="writers", client="w", op="INSERT", ok=True, t=0.1 * i, t_end=0.1 * i + 0.01)
    tl.fault("inject", t=3.0, fault="kill", fault_id="f1", targets=["bench/db-1"])
    tl.fault("heal", t=4.0, fault="kill", fault_id="f1", targets=["bench/db-1"], heal="start", undone=True)
    for i in range(30):
        t = 4.2 + 0.2 * i
        tl.probe(population="writers", client="w", op="INSERT", ok=False, t=t, t_end=t + 0.01)


def run(tmp_path, fail):
    with drill_run(env(), name="t", report_dir=tmp_path, allure_steps=False) as d:
        writers_never_back(d.timeline)
        if fail:
            d.check_findings(fail)
    return d


def test_a_finding_is_recorded_and_said_but_fails_nothing_by_default(tmp_path):
    d = run(tmp_path, fail=None)
    assert d.result.outcome == "passed"
    (f,) = d.result.findings
    assert f["kind"] == "never-worked-again" and f["severity"] == "critical"
    assert any(r.get("kind") == "finding" for r in d.timeline.records)
    lines = verdict_lines("t", "passed", [], 5, [{"severity": "critical", "sentence": f["sentence"]}])
    assert lines[0].startswith("held") and lines[1].startswith("  ! finding [critical]: writers: no request")


def test_a_drill_that_opted_in_fails_on_its_finding(tmp_path):
    with pytest.raises(DrillFailed) as failed:
        run(tmp_path, fail="fail")
    assert "writers: no request succeeded" in str(failed.value)


def test_summary_history_and_the_management_page_carry_findings(tmp_path):
    d = run(tmp_path, fail=None)
    md, js = write_summary([d.result], tmp_path / "out")
    assert "## Findings (not asked for, but seen on the timeline)" in md.read_text()
    summary = json.loads(js.read_text())
    assert summary["drills"][0]["findings"][0]["kind"] == "never-worked-again"
    history = append_trend([d.result], tmp_path / "out" / "history.jsonl")
    assert json.loads(history.read_text().splitlines()[-1])["findings"] == ["critical:never-worked-again"]
    page = build_page(summary, [])
    assert "Not asked, but seen: writers: no request succeeded" in page
    assert rows_from_summary(summary)[0].noticed


@pytest.mark.parametrize("value, severities, kinds", [
    ("report", (), None), (None, (), None), ("fail", ("critical", "warning"), None), (True, ("critical", "warning"), None),
    ("critical", ("critical",), None), (["split-brain"], ("critical", "warning"), ("split-brain",))])
def test_the_findings_policy(value, severities, kinds):
    assert findings_policy(value) == (severities, kinds)
