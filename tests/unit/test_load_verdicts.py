"""Load verdicts on timelines built by hand: each passes on a sound load and fails on a bad one, and
its figure equals a count made here."""

from __future__ import annotations

from load_support import load_timeline

from drillkit.load.slo import AlertRule, Slo
from drillkit.timeline import Timeline
from drillkit.verdicts import load as L
from drillkit.verdicts.base import FAIL, PASS, UNKNOWN

SPIKE = [("before", 0.0, 10.0, 10.0, 1.0), ("spike ×4", 10.0, 20.0, 40.0, 4.0), ("after", 20.0, 30.0, 10.0, 1.0)]


def spike(bad: bool) -> Timeline:
    """10/s, 40/s from 10 to 20 s, 10/s again. Bad: in the spike every 4th arrival is shed (503),
    every 8th times out, the served ones take 1.5 s."""
    out = []
    for k in range(100):
        out.append((k * 0.1, 0.05, 200, None))
    for k in range(400):
        due = 10.0 + k * 0.025
        if bad and k % 4 == 0:
            out.append((due, 0.01, 503, None))
        elif bad and k % 8 == 1:
            out.append((due, 2.0, None, "timeout"))
        else:
            out.append((due, 1.5 if bad else 0.06, 200, None))
    for k in range(100):
        out.append((20.0 + k * 0.1, 0.05, 200, None))
    return load_timeline(SPIKE, out)


def test_throughput_held_per_phase():
    good, bad = L.throughput(spike(False), minimum=0.95), L.throughput(spike(True), minimum=0.95)
    assert good.status == PASS and good.value == 100.0
    served = 400 - 100 - 50                                               # own count: 100 shed, 50 timed out
    assert bad.status == FAIL and bad.value == round(100 * served / 400, 2)
    assert bad.sentence.startswith("throughput held in 2 of 3 phases: before 100.0% (10.0/s), spike ×4 62.5% (25.0 of 40.0/s)")
    assert bad.details["below"] == ["spike ×4"]


def test_p95_shed_and_queue_per_phase():
    g, b = L.load_p95(spike(False), maximum=1.0), L.load_p95(spike(True), maximum=1.0)
    assert g.status == PASS and b.status == FAIL and b.value == 1500.0 and "too slow in spike ×4" in b.sentence
    g, b = L.shed(spike(False), maximum=0.01), L.shed(spike(True), maximum=0.01)
    assert g.status == PASS and g.value == 0.0
    assert b.status == FAIL and b.value == 37.5 and "spike ×4 37.5% (100 shed, 50 timed out of 400)" in b.sentence
    g, b = L.queue_time(spike(False), maximum=0.5), L.queue_time(spike(True), maximum=0.5)
    assert g.status == PASS and b.status == FAIL
    assert 1400 <= b.value <= 1500                                         # 1.5 s answers over a 50 ms median


def test_scaleout_gain_compares_two_loads():
    def two(rate_after: float) -> Timeline:
        tl = load_timeline([("constant", 0.0, 10.0, 20.0, 1.0)], [(k * 0.05, 0.1, 200 if k % 2 else 503, None)
                                                                   for k in range(200)], label="5")
        other = load_timeline([("constant", 20.0, 30.0, 20.0, 1.0)],
                              [(20.0 + k * 0.05, 0.1, 200 if k * rate_after % 20 < rate_after else 503, None)
                               for k in range(200)], label="10", start=20.0)
        tl.records.extend(r for r in other.records if r["kind"] != "header")
        return tl
    helps, flat = L.scaleout_gain(two(20), before="5", after="10", minimum=0.2), \
        L.scaleout_gain(two(10.5), before="5", after="10", minimum=0.2)
    assert helps.status == PASS and helps.value == 100.0 and helps.sentence.startswith("more instances help: 10.0 → 20.0 served/s (+100%)")
    assert flat.status == FAIL and flat.sentence.startswith("more instances do not help")
    assert L.scaleout_gain(two(20), before="5", after="20").status == UNKNOWN


def surge(back_at: float | None) -> Timeline:
    """2/s, then 40/s from 10 s (rise 1 s) to 40 s; everything fails from 11 s until ``back_at``."""
    ph = [("before", 0.0, 10.0, 2.0, 1.0), ("rise", 10.0, 11.0, 21.0, 10.5), ("surge ×20", 11.0, 40.0, 40.0, 20.0)]
    out = [(k * 0.5, 0.05, 200, None) for k in range(20)]
    t = 10.0
    while t < 40.0:
        failing = 11.0 <= t and (back_at is None or t < back_at)
        out.append((t, 0.05 if not failing else 0.01, 503 if failing else 200, None))
        t = round(t + 0.025, 6)
    return load_timeline(ph, out)


def test_absorption_time_from_the_surge_start():
    slo = Slo(p95=1.0, availability=0.95, window=2.0)
    ab = L.absorption_time(surge(25.0), slo=slo, maximum=20)
    # the first 2 s window holding ≥ 95 % again starts at ~24.9 s (5 % of it may still fail): ~14.9 s
    assert ab.status == PASS and 14.8 <= ab.value <= 15.05, ab.sentence
    assert ab.sentence.startswith(f"surge absorbed after {ab.value:.1f} s")
    assert L.absorption_time(surge(25.0), slo=slo, maximum=10).status == FAIL
    never = L.absorption_time(surge(None), slo=slo, maximum=20)
    assert never.status == FAIL and never.value is None and never.sentence.startswith("surge not absorbed")
    fine = L.absorption_time(surge(11.0), slo=slo, maximum=20)
    assert fine.status == PASS and fine.value == 0.0 and "held throughout" in fine.sentence


def test_breaking_point_against_the_forecast():
    def searched(steps):
        tl = Timeline()
        tl.add("search", base=10, slo="p95 ≤ 500 ms and ≥ 99% served", forecast=4, steps=[
            {"factor": f, "rate": 10 * f, "offered": 100, "served": 100 if held else 60, "p95_s": 0.1, "held": held}
            for f, held in steps])
        return tl
    v = L.breaking_point(searched([(1, True), (2, True), (3, True), (4, False), (3.5, False), (3.25, True)]))
    assert v.status == FAIL and v.value == 3.5
    assert v.sentence == "breaks at ×3.5 of today's load (held at ×3.25); the forecast ×4 is not covered"
    ok = L.breaking_point(searched([(1, True), (2, True), (4, True), (6, False)]))
    assert ok.status == PASS and ok.sentence.endswith("the forecast ×4 is covered (margin ×1.00)")
    assert L.breaking_point(Timeline()).status == UNKNOWN


def degrades_then_fails() -> Timeline:
    """A probe every 0.1 s: 50 ms until 20 s, 150 ms from 20 s (3× baseline), 1.5 s from 40 s."""
    tl = Timeline()
    tl.add("phase", t=0.0, phase="steady", event="start")
    tl.add("phase", t=10.0, phase="steady", event="end")
    for k in range(600):
        t = k * 0.1
        lat = 0.05 if t < 20 else 0.15 if t < 40 else 1.5
        tl.probe(population="probe", client="p", op="GET /", ok=True, t=t, t_end=t + lat, status=200)
    return tl


def fails_at_once(*, fast: bool) -> Timeline:
    """50 ms until 30 s; then every request fails — fast 503s, or timeouts after 2 s."""
    tl = Timeline()
    tl.add("phase", t=0.0, phase="steady", event="start")
    tl.add("phase", t=10.0, phase="steady", event="end")
    for k in range(500):
        t = k * 0.1
        if t < 30:
            tl.probe(population="probe", client="p", op="GET /", ok=True, t=t, t_end=t + 0.05, status=200)
        elif fast:
            tl.probe(population="probe", client="p", op="GET /", ok=False, t=t, t_end=t + 0.01, status=503)
        else:
            tl.probe(population="probe", client="p", op="GET /", ok=False, t=t, t_end=t + 2.0, error="timeout")
    return tl


RULE = AlertRule(factor=2.0, for_=5.0, window=2.0)
SLO = Slo(p95=1.0, availability=0.99, window=2.0)


def test_lead_time_when_the_service_degrades_before_it_fails():
    v = L.lead_time(degrades_then_fails(), population="probe", alert=RULE, slo=SLO, minimum=10.0)
    # alert: p95 over 2 s windows above 100 ms from ~20.5 s (windows every 0.5 s), held 5 s -> ~25.5 s;
    # SLO: the first 1.5 s answer arrives at 41.5 s — the window ending then breaks p95 ≤ 1 s
    assert v.status == PASS and 15.5 <= v.value <= 16.5, v.sentence
    assert 25.0 <= v.details["alert_at"] <= 26.0 and 41.0 <= v.details["slo_broke_at"] <= 42.0
    assert v.sentence.startswith(f"lead time {v.value:.1f} s: the alert rule p95 above 2× baseline for 5 s "
                                 "(baseline p95 50 ms) fired at")


def test_lead_time_when_it_fails_at_once():
    hangs = L.lead_time(fails_at_once(fast=False), population="probe", alert=RULE, slo=SLO)
    # the SLO breaks with the first failure (~30 s + its 2 s wait); the alert needs 5 s more: negative
    assert hangs.status == FAIL and -6.0 <= hangs.value <= -4.0, hangs.sentence
    assert "after the SLO" in hangs.sentence
    fast = L.lead_time(fails_at_once(fast=True), population="probe", alert=RULE, slo=SLO)
    assert fast.status == FAIL and fast.value is None and "never fired: no early warning" in fast.sentence


def test_lead_time_when_nothing_breaks():
    tl = fails_at_once(fast=True)
    tl.records = [r for r in tl.records if not (r["kind"] == "probe" and not r["ok"])]
    v = L.lead_time(tl, population="probe", alert=RULE, slo=SLO)
    assert v.status == PASS and v.value is None and "never broke" in v.sentence
