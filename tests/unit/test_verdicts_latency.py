"""latency_by_phase: p50/p95/p99 per phase; the target applies while the fault is in play."""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, UNKNOWN, latency_by_phase


def phase(tl, name, start, stop, latency, *, ok=True, population="clerks"):
    tl.add("phase", t=start, phase=name, event="start")
    for i in range(int(round((stop - start) * 10))):
        t = start + i * 0.1
        tl.probe(population=population, client="c1", op="GET /", ok=ok, t=t, t_end=t + latency)
    tl.add("phase", t=stop, phase=name, event="end")


def drill(observe_latency):
    tl = Timeline()
    phase(tl, "steady", 0.0, 5.0, 0.03)
    phase(tl, "inject", 5.0, 6.0, 0.04)
    phase(tl, "observe", 6.0, 16.0, observe_latency)
    phase(tl, "recover", 16.0, 20.0, 0.045)
    phase(tl, "verify", 20.0, 21.0, 5.0)  # not listed: ignored
    return tl


def test_latency_by_phase_passes_under_target():
    v = latency_by_phase(drill(0.2), "clerks", p95_max=0.5)
    assert v.status == PASS
    assert v.sentence == ("latency of clerks by phase (p95): steady 30 ms, inject 40 ms, observe 200 ms, "
                          "recover 45 ms (target p95 ≤ 500 ms while the fault is in play)")
    assert v.value == 200.0 and v.unit == "ms" and v.target == "p95 ≤ 500 ms"
    assert v.details["phases"]["observe"] == {"requests": 100, "answered": 100, "p50_ms": 200.0,
                                              "p95_ms": 200.0, "p99_ms": 200.0}


def test_latency_by_phase_fails_over_target_in_a_fault_phase_only():
    v = latency_by_phase(drill(2.1), "clerks", p95_max=0.5)
    assert v.status == FAIL
    assert v.sentence == ("latency of clerks by phase (p95): steady 30 ms, inject 40 ms, observe 2100 ms, "
                          "recover 45 ms (target p95 ≤ 500 ms while the fault is in play); too slow in "
                          "observe")
    # a slow steady state is the baseline, not a fault-phase breach
    assert latency_by_phase(drill(0.2), "clerks", p95_max=0.02).details["over"] == ["inject", "observe",
                                                                                    "recover"]


def test_latency_by_phase_percentiles_differ():
    tl = Timeline()
    tl.add("phase", t=0.0, phase="observe", event="start")
    for i in range(100):
        tl.probe(population="p", client="c", op="GET /", ok=True, t=i * 0.1, t_end=i * 0.1 + (i + 1) / 1000)
    v = latency_by_phase(tl, "p")  # the phase never ended: lasts to the end of the timeline
    row = v.details["phases"]["observe"]
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (51.0, 95.0, 99.0)
    assert v.status == PASS and v.target is None
    assert v.sentence == "latency of p by phase (p95): observe 95 ms"


def test_latency_by_phase_unknown_without_phases_or_answers():
    tl = Timeline()
    tl.probe(population="clerks", client="c1", op="GET /", ok=True, t=0.0, t_end=0.1)
    v = latency_by_phase(tl, "clerks", p95_max=0.5)
    assert v.status == UNKNOWN
    assert v.sentence == ("latency of clerks by phase unknown: no answered request in steady, inject, "
                          "observe, recover")
    v = latency_by_phase(drill(0.1), "clerks", p95_max=0.5, phases=("steady",))
    assert v.status == UNKNOWN  # a target for the fault phases, but none was measured
    failed = Timeline()
    phase(failed, "observe", 0.0, 1.0, 1.0, ok=False)
    v = latency_by_phase(failed, "clerks", p95_max=0.5)
    assert v.status == UNKNOWN and "observe no answer" not in v.sentence
