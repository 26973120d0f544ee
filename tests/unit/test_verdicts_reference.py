"""Verdicts against the same load before the change (drillkit.verdicts.reference), both ways: a busy
machine that slows the reference and the morning alike leaves a sound change passing, and a defect
that slows or fails the morning beyond the reference fails it — with the margin in the sentence."""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts.reference import reference_minimums, slowdown_against


def morning_pair(ref_ms: float, after_ms: float, ref_ok: float = 1.0, after_ok: float = 1.0) -> Timeline:
    """reference 0..10 s, observe 20..30 s; 100 requests each of two populations per phase, the
    answered ones taking the given time."""
    tl = Timeline()
    for name, s, ms, share in (("reference", 0.0, ref_ms, ref_ok), ("observe", 20.0, after_ms, after_ok)):
        tl.add("phase", t=s, phase=name, event="start")
        for i in range(100):
            t = s + i * 0.1
            tl.probe(population="clerks", client=f"c{i % 8}", op="GET /", ok=True, t=t, t_end=t + ms / 1000)
            tl.probe(population="logins", client=f"n{i}", op="POST /login", ok=i < 100 * share, t=t,
                     t_end=t + ms / 1000)
        tl.add("phase", t=s + 10, phase=name, event="end")
    return tl


def test_a_machine_that_slows_both_runs_alike_passes_and_a_slower_stack_fails():
    busy_sound = slowdown_against(morning_pair(380, 400), "clerks", phase="observe", max_ratio=1.75, load="the morning")
    assert busy_sound.status == "pass" and busy_sound.value == 1.05
    assert busy_sound.sentence == ("clerks' answers under the morning: median 400 ms after the change, 1.1× the 380 ms "
                                   "of the same load before it (target ≤ 1.75×)")
    defect = slowdown_against(morning_pair(120, 600), "clerks", phase="observe", max_ratio=1.75, quantile=0.95)
    assert defect.status == "fail" and defect.value == 5.0 and defect.kind == "slowdown"
    assert defect.details["reference_ms"] == 120.0 and defect.sentence.startswith("clerks' answers under the same load: p95 600 ms")


def test_too_few_answers_are_not_measured():
    tl = morning_pair(100, 100)
    v = slowdown_against(tl, "nobody", phase="observe", max_ratio=2.0)
    assert v.status == "unknown" and "not measured" in v.sentence


def test_minimums_fall_with_what_the_machine_let_the_old_stack_serve():
    quiet = morning_pair(100, 100)
    mins, v = reference_minimums(quiet, {"clerks": 0.95, "logins": 0.90}, points={"clerks": 0.05, "logins": 0.10})
    assert mins == {"clerks": 0.95, "logins": 0.90} and v.status == "pass" and v.kind == "reference"
    busy = morning_pair(300, 300, ref_ok=0.62)
    mins, v = reference_minimums(busy, {"clerks": 0.95, "logins": 0.90}, points={"clerks": 0.05, "logins": 0.10},
                                 load="the morning load")
    assert mins["clerks"] == 0.95 and round(mins["logins"], 2) == 0.52
    assert v.status == "pass" and ("logins 62.0% of 100 → target ≥ 52.0% (the same load before the change served "
                                   "62.0%: 10 points below it)") in v.sentence
    assert v.sentence.startswith("the morning load before the change (same machine, minutes earlier): ")


def test_a_reference_that_could_not_carry_the_load_judges_nothing():
    tl = morning_pair(300, 300, ref_ok=0.30)
    _, v = reference_minimums(tl, {"logins": 0.90}, points={"logins": 0.10})
    assert v.status == "unknown" and "logins 30.0% < 50%" in v.sentence and "nothing after it can be judged" in v.sentence
    _, v = reference_minimums(tl, {"nobody": 0.90}, points={})
    assert v.status == "unknown" and "nobody: no request" in v.sentence
