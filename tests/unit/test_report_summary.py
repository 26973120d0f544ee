"""summary.md / summary.json and the trend history, computed from verdicts and timelines."""

from __future__ import annotations

import json

from drillkit.report.history import append_trend, trend_table
from drillkit.report.summary import DrillResult, key_figures, write_summary
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


def test_key_figures_come_only_from_the_verdicts_asked_for(tmp_path):
    failed = results(tmp_path)[0]
    figures = key_figures(failed)
    assert figures["recovery_time"] == 9.0           # from the verdict
    assert figures["writes_lost"] == 0               # from the verdict, not the ground truth
    assert figures["sessions_lost"] is None          # not asked for: c1's refusal is not counted behind its back
    assert figures["availability"] == {"existing-sessions": 66.67, "new-logins": 100.0}  # always measured
    no_verdicts = DrillResult(**{**failed.__dict__, "verdicts": []})
    computed = key_figures(no_verdicts)
    assert computed["writes_lost"] is None           # the ground truth alone is not a verdict
    assert computed["recovery_time"] is None
    assert computed["notes"] == {} and computed["headlines"] == []


def test_summary_has_the_table_and_the_failed_sentence(tmp_path):
    md, js = write_summary(results(tmp_path), tmp_path / "out")
    text = md.read_text()
    assert "| kill-primary | citizen-portal | kill | ❌ defect | 9.0 s |" in text
    assert "recovery time 9.0 s (target < 5.0 s)" in text
    assert "no acknowledged write lost" not in text  # only failed verdicts get their sentence
    assert "latency-db" in text and "1 lab error" in text and "## Broken" in text
    data = json.loads(js.read_text())
    assert data["counts"] == {"passed": 1, "failed": 1, "not-judged": 0, "broken": 1, "interrupted": 0, "skipped": 0}
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
    assert len(rows) == 2 and "9.0 s" in rows[0] and "❌ defect" in rows[0]
    assert sum(row.startswith("| ") for row in table.splitlines()) == 1 + 3 * 2  # header + 3 drills × 2 runs


def test_trend_table_without_history(tmp_path):
    assert "No drill history" in trend_table(tmp_path / "missing.jsonl")


# -- nothing unmeasured shown as a number (issue 7) ---------------------------------------------------

def _drill(tmp_path, name, verdicts, timeline=None):
    path = None
    if timeline is not None:
        path = tmp_path / f"{name}.jsonl"
        with Timeline(path, drill=name) as tl:
            for r in timeline.records[1:]:
                tl.add(r["kind"], **{k: v for k, v in r.items() if k != "kind"})
    return DrillResult(name=name, stack="s", fault="kill", scenario=name,
                       outcome="failed" if any(v.failed for v in verdicts) else "passed",
                       verdicts=verdicts, timeline_path=path, duration=1.0)


def _outage(tl_fail: bool):
    from drillkit.verdicts import recovery_time, sessions_lost, writes_lost
    tl = Timeline()
    tl.fault("inject", fault="partition", fault_id="f1", targets=["redis-1"], t=1.0)
    tl.fault("heal", fault="partition", fault_id="f1", targets=["redis-1"], t=3.0)
    for i in range(40):
        t = i * 0.1
        tl.probe(population="writers", client=f"w{i % 4}", op="SET", ok=not (tl_fail and 1.0 <= t < 2.0),
                 t=t, t_end=t + 0.01)
        tl.write(client=f"w{i % 4}", id=str(i), op="SET")
    tl.add("ground-truth", t=5.0, what="writes", ids=[str(i) for i in range(40) if not 12 <= i < 25])
    return tl, [recovery_time(tl, target=5.0, population="writers"), sessions_lost(tl, population="writers"),
                writes_lost(tl)]


def test_silent_write_loss_heads_the_summary_and_unmeasured_is_a_dash(tmp_path):
    tl, verdicts = _outage(tl_fail=False)
    rec, sessions, writes = verdicts
    assert rec.value is None and rec.details["outage"] is False
    assert sessions.status == "unknown"                              # nobody held a session
    r = _drill(tmp_path, "sentinel-partition", verdicts, tl)
    fig = key_figures(r)
    assert fig["recovery_time"] is None and fig["notes"] == {"recovery_time": "no outage seen"}
    assert fig["sessions_lost"] is None and fig["writes_lost"] == 13
    assert fig["availability"] == {"writers": 100.0}
    assert fig["headlines"] == [writes.sentence] and writes.sentence.startswith("silent write loss: 13 of 40")
    md, js = write_summary([r], tmp_path / "out")
    text = md.read_text()
    row = next(l for l in text.splitlines() if l.startswith("| sentinel-partition "))
    assert "| no outage seen | writers 100.0 % | — | 13 of 40 (silent) |" in row, row
    assert "0.0 s" not in row
    assert text.index("## Headlines") < text.index("## Failed verdicts")
    assert "- **sentinel-partition** — silent write loss: 13 of 40" in text
    drill = json.loads(js.read_text())["drills"][0]
    assert drill["figures"]["recovery_time"] is None and drill["figures"]["sessions_lost"] is None
    history = append_trend([r], tmp_path / "history.jsonl")
    entry = json.loads(history.read_text().splitlines()[0])
    assert entry["recovery_time"] is None and entry["sessions_lost"] is None
    assert entry["notes"] == {"recovery_time": "no outage seen"}
    assert "no outage seen" in trend_table(history)


def test_figures_not_asked_for_are_none_even_when_the_timeline_could_tell(tmp_path):
    tl, _ = _outage(tl_fail=True)
    r = _drill(tmp_path, "asked-nothing", [], tl)
    fig = key_figures(r)
    assert (fig["recovery_time"], fig["sessions_lost"], fig["writes_lost"]) == (None, None, None)
    row = next(l for l in write_summary([r], tmp_path / "o")[0].read_text().splitlines()
               if l.startswith("| asked-nothing "))
    assert row.endswith("| — | writers 75.0 % | — | — |"), row


def test_not_recovered_is_said_and_other_asked_columns_appear(tmp_path):
    from drillkit.verdicts import detection_time
    tl = Timeline()
    tl.fault("inject", fault="kill", fault_id="f1", targets=["app-2"], t=1.0)
    for i in range(30):
        tl.probe(population="p", client="u", op="GET", ok=i < 10, t=i * 0.1, t_end=i * 0.1 + 0.01)
    from drillkit.verdicts import recovery_time
    verdicts = [recovery_time(tl, target=5.0, population="p"), detection_time(tl, "p", max=1.0)]
    assert verdicts[0].sentence.startswith("not recovered: 1 of 1 p users still failing")
    r = _drill(tmp_path, "never-back", verdicts, tl)
    fig = key_figures(r)
    assert fig["recovery_time"] is None and fig["notes"]["recovery_time"] == "not recovered"
    assert fig["detection_time"] == 0.01
    text = write_summary([r], tmp_path / "o")[0].read_text()
    assert "| Detection time |" in text.splitlines()[4]
    assert "| not recovered |" in text
