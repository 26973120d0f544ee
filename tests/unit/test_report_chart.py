"""The drill chart renders from a timeline alone — also an empty one and one with an unhealed fault."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from drillkit.report.chart import availability_series, bin_width, latency_p95_series, render_timeline_chart
from drillkit.timeline import Timeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "not a PNG"
    return struct.unpack(">II", data[16:24])


def drill_timeline(*, healed: bool = True) -> Timeline:
    """40 s drill: two populations, the primary killed at 10 s (healed at 25 s unless not `healed`)."""
    records = [{"kind": "header", "t": 0.0, "drill": "kill-primary", "run": "r-test"}]
    for name, start, end in [("steady", 0, 10), ("inject", 10, 10.5), ("observe", 10.5, 25),
                             ("recover", 25, 35), ("verify", 35, 40)]:
        records += [{"kind": "phase", "t": start, "phase": name, "event": "start"},
                    {"kind": "phase", "t": end, "phase": name, "event": "end"}]
    records.append({"kind": "fault", "t": 10.2, "event": "inject", "fault": "kill",
                    "fault_id": "f1", "targets": ["db-primary"], "detail": {}})
    records.append({"kind": "fault", "t": 25.0, "event": "heal" if healed else "heal-failed",
                    "fault": "kill", "fault_id": "f1", "targets": ["db-primary"], "detail": {}})
    for population, step in (("existing-sessions", 0.1), ("new-logins", 0.5)):
        t = 0.0
        while t < 40:
            down = 10.2 <= t < 14.0
            latency = 2.0 if down else 0.02 + (t % 1) / 100
            records.append({"kind": "probe", "t": round(t, 3), "t_end": round(t + latency, 3),
                            "population": population, "client": f"{population}-1", "op": "GET /",
                            "ok": not down, "status": 503 if down else 200, "latency": latency,
                            "node": None, "error": "503" if down else None, "session": "valid"})
            t += step
    return Timeline.from_records(records)


def test_chart_renders_a_png(tmp_path):
    out = render_timeline_chart(drill_timeline(), tmp_path / "chart.png", title="Kill the primary")
    assert out == tmp_path / "chart.png"
    width, height = png_size(out)
    assert 800 <= width <= 2500 and 500 <= height <= 1600


def test_chart_with_unhealed_fault(tmp_path):
    out = render_timeline_chart(drill_timeline(healed=False), tmp_path / "unhealed.png")
    assert png_size(out)[0] > 800


def test_chart_of_an_empty_timeline(tmp_path):
    out = render_timeline_chart(Timeline.from_records([]), tmp_path / "sub" / "empty.png")
    assert png_size(out)[0] > 800


def test_chart_with_a_population_without_probes(tmp_path):
    timeline = Timeline.from_records([{"kind": "header", "t": 0.0, "populations": ["citizens"]},
                                      {"kind": "phase", "t": 0.0, "phase": "steady", "event": "start"}])
    assert png_size(render_timeline_chart(timeline, tmp_path / "c.png"))[0] > 800


def test_chart_from_a_live_timeline_file(tmp_path):
    with Timeline(tmp_path / "timeline.jsonl", drill="live") as timeline:
        timeline.phase("steady")
        timeline.probe(population="probe", client="p1", op="GET /health", ok=True, t=0.1, t_end=0.15)
        timeline.fault("inject", fault="partition", fault_id="f1", targets=["app-1"])
        timeline.probe(population="probe", client="p1", op="GET /health", ok=False, t=0.3, t_end=1.3,
                       error="timeout")
    out = render_timeline_chart(Timeline.load(tmp_path / "timeline.jsonl"), tmp_path / "live.png")
    assert png_size(out)[0] > 800


def test_bins_follow_the_drill_length():
    assert bin_width(10) == 0.25
    assert bin_width(600) == pytest.approx(3.0)


def test_availability_and_p95_series():
    probes = [{"t": 0.1, "ok": True, "latency": 0.01}, {"t": 0.2, "ok": False, "latency": 1.0},
              {"t": 0.6, "ok": True, "latency": 0.02}]
    xs, ys = availability_series(probes, duration=1.0)
    assert xs == [0.125, 0.625] and ys == [50.0, 100.0]
    _, p95 = latency_p95_series(probes, duration=1.0)
    assert p95 == [1000.0, 20.0]


def _judged(tl, *verdicts):
    """Verdict records as Drill.check writes them."""
    for v in verdicts:
        tl.add("verdict", t=40.0, name=v.name, key=v.kind, status=v.status, sentence=v.sentence,
               value=v.value, unit=v.unit, target=v.target, details=v.details)
    return tl


def test_measured_verdicts_are_marked_and_unmeasured_ones_draw_nothing(tmp_path):
    from drillkit.report.chart import verdict_marks
    from drillkit.verdicts import recovery_time, writes_lost

    tl = drill_timeline()
    for i in range(30):
        tl.records.append({"kind": "write", "t": 8.0 + i * 0.5, "client": "c", "id": str(i), "op": "move"})
    tl.records.append({"kind": "ground-truth", "t": 39.0, "what": "writes",
                       "ids": [str(i) for i in range(30) if not 6 <= i < 16]})
    rec, lost = recovery_time(tl, target=5.0, population="existing-sessions"), writes_lost(tl)
    assert rec.value is not None and lost.value == 10
    marks = verdict_marks(_judged(tl, rec, lost))
    assert [(m.what, m.start, m.end) for m in marks] == [("recovered", rec.details["last_back_at"], None),
                                                         ("lost-writes", 11.0, 15.5)]
    assert png_size(render_timeline_chart(tl, tmp_path / "marked.png"))[0] > 800

    quiet = drill_timeline()
    quiet.records = [r for r in quiet.records if r.get("ok", True)]           # nobody failed
    nothing = recovery_time(quiet, target=5.0, population="existing-sessions")
    unknown = writes_lost(quiet)
    assert nothing.value is None and unknown.status == "unknown"
    assert verdict_marks(_judged(quiet, nothing, unknown)) == []
    assert png_size(render_timeline_chart(quiet, tmp_path / "quiet.png"))[0] > 800
