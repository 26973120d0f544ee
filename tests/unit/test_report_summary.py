"""summary.md / summary.json and the trend history, computed from verdicts and timelines."""

from __future__ import annotations

import json

from drillkit.report.summary import DrillResult, append_trend, key_figures, trend_table, write_summary
from drillkit.timeline import Timeline
from drillkit.verdicts.base import FAIL, PASS, Verdict


def write_timeline(path):
    with Timeline(path, drill="kill-primary") as tl:
        tl.probe(population="existing-sessions", client="c1", op="GET /", ok=True, t=0.0, t_end=0.1,
                 session="valid")
        tl.fault("inject", fault="kill", fault_id="f1", targets=["db-primary"])
        tl.probe(population="existing-sessions", client="c1", op="GET /", ok=False, t=1.0, t_end=1.5,
                 session="rejected")
        tl.probe(population="new-logins", client="n1", op="POST /login", ok=True, t=2.0, t_end=2.2)
        tl.probe(population="existing-sessions", client="c1", op="GET /", ok=True, t=3.0, t_end=3.1)
        tl.write(client="c1", id="1", op="insert")
        tl.write(client="c1", id="2", op="insert")
        tl.add("ground-truth", t=4.0, what="writes", ids=["1"])
    return path


def results(tmp_path):
    failed = DrillResult(
        name="kill-primary", stack="citizen-portal", fault="kill", scenario="primary dies under load",
        outcome="failed",
        verdicts=[Verdict("recovery time", FAIL, "recovery time 9.0 s (target < 5.0 s)", 9.0, "s",
                          "< 5.0 s"),
                  Verdict("acknowledged writes lost", PASS, "no acknowledged write lost", 0, "", "= 0")],
        timeline_path=write_timeline(tmp_path / "kill.jsonl"), duration=42.0)
    passed = DrillResult(name="partition-app", stack="citizen-portal", fault="partition",
                         scenario="app node cut off", outcome="passed", verdicts=[],
                         timeline_path=None, duration=30.0)
    broken = DrillResult(name="latency-db", stack="citizen-portal", fault="latency",
                         scenario="slow disk", outcome="broken", verdicts=[],
                         timeline_path=tmp_path / "never-written.jsonl", duration=1.0)
    return [failed, passed, broken]


def test_key_figures_prefer_verdicts_and_fall_back_to_the_timeline(tmp_path):
    failed = results(tmp_path)[0]
    figures = key_figures(failed)
    assert figures["recovery_time"] == 9.0           # from the verdict
    assert figures["writes_lost"] == 0               # from the verdict, not the ground truth
    assert figures["sessions_lost"] == 1             # computed: c1 was refused once
    assert figures["availability"] == {"existing-sessions": 66.67, "new-logins": 100.0}
    no_verdicts = DrillResult(**{**failed.__dict__, "verdicts": []})
    computed = key_figures(no_verdicts)
    assert computed["writes_lost"] == 1              # write 2 missing from the ground truth
    assert computed["recovery_time"] is not None and computed["recovery_time"] > 0


def test_summary_has_the_table_and_the_failed_sentence(tmp_path):
    md, js = write_summary(results(tmp_path), tmp_path / "out")
    text = md.read_text()
    assert "| kill-primary | citizen-portal | kill | ❌ fail | 9.0 s |" in text
    assert "recovery time 9.0 s (target < 5.0 s)" in text
    assert "no acknowledged write lost" not in text  # only failed verdicts get their sentence
    assert "latency-db" in text and "broken" in text
    data = json.loads(js.read_text())
    assert data["counts"] == {"passed": 1, "failed": 1, "broken": 1}
    kill = data["drills"][0]
    assert kill["outcome"] == "failed" and kill["figures"]["recovery_time"] == 9.0
    assert kill["verdicts"][0]["status"] == "fail"


def test_trend_append_and_table(tmp_path):
    history = tmp_path / "history" / "drills.jsonl"
    runs = results(tmp_path)
    for _ in range(3):
        append_trend(runs, history)
    with open(history, "a") as fh:
        fh.write('{"torn": ')  # an interrupted run must not break the table
    lines = [json.loads(line) for line in history.read_text().splitlines()[:-1]]
    assert len(lines) == 9
    assert {"date", "drill", "outcome", "recovery_time", "availability"} <= set(lines[0])
    table = trend_table(history, last=2)
    rows = [row for row in table.splitlines() if row.startswith("| kill-primary ")]
    assert len(rows) == 2 and "9.0 s" in rows[0] and "❌ fail" in rows[0]
    assert sum(row.startswith("| ") for row in table.splitlines()) == 1 + 3 * 2  # header + 3 drills × 2 runs


def test_trend_table_without_history(tmp_path):
    assert "No drill history" in trend_table(tmp_path / "missing.jsonl")
