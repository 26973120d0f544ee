"""availability_by_population: one verdict per population and the 11 April 2019 contrast."""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, UNKNOWN, availability_by_population


def requests(tl, population, start, stop, *, ok=True, step=0.1, latency=0.02, client="c1"):
    t = start
    while t < stop - 1e-9:
        tl.probe(population=population, client=client, op="GET /", ok=ok, t=round(t, 6),
                 t_end=round(t + latency, 6), status=200 if ok else 503)
        t += step


def identity_down():
    """Identity down from 10 to 50: new logins fail for 40 s, existing sessions keep working but one."""
    tl = Timeline()
    requests(tl, "new-logins", 0.0, 10.0, step=1.0)
    requests(tl, "existing-sessions", 0.0, 10.0, step=1.0)
    tl.fault("inject", fault="stop", fault_id="f1", targets=["identity/idp"], t=10.0)
    requests(tl, "new-logins", 10.0, 50.0, ok=False, step=0.5)
    requests(tl, "new-logins", 50.0, 55.0, step=0.5)
    requests(tl, "existing-sessions", 10.0, 30.0, step=0.2)
    requests(tl, "existing-sessions", 30.0, 30.2, ok=False, step=0.2)
    requests(tl, "existing-sessions", 30.2, 55.0, step=0.2)
    tl.fault("heal", fault="stop", fault_id="f1", targets=["identity/idp"], t=55.0)
    requests(tl, "new-logins", 55.0, 60.0, step=1.0)
    return tl


def test_the_11_april_pattern_is_said_in_one_sentence():
    new, existing, contrast = availability_by_population(
        identity_down(), {"new-logins": 0.99, "existing-sessions": 0.99})
    assert new.status == FAIL
    assert new.name == "availability new-logins (during the fault)"
    assert new.sentence == ("new-logins: 11.1% of 90 requests succeeded during the fault, failed for "
                            "40.0 s, p95 latency 20 ms (target ≥ 99.0%)")
    assert existing.status == PASS
    assert existing.sentence == ("existing-sessions: 99.6% of 225 requests succeeded during the fault, "
                                 "failed for 0.2 s, p95 latency 20 ms (target ≥ 99.0%)")
    assert contrast.name == "availability contrast" and contrast.status == FAIL
    assert contrast.sentence == ("new logins failed for 40.0 s while existing sessions stayed available "
                                 "(99.6%) — the pattern of the 11 April 2019 outage")
    assert contrast.details["pattern"] == "11 April 2019"


def test_the_pattern_says_but_slow_when_the_working_population_slowed_down():
    """The source's words: logged-in users kept working, slowly. p95 before the window is the reference."""
    tl = Timeline()
    requests(tl, "new-logins", 0.0, 10.0, step=0.5)
    requests(tl, "existing-sessions", 0.0, 10.0, step=0.5, latency=0.05)
    tl.add("phase", t=10.0, phase="morning", event="start")
    requests(tl, "new-logins", 10.0, 30.0, ok=False, step=0.5)
    requests(tl, "existing-sessions", 10.0, 30.0, step=0.5, latency=0.6)
    tl.add("phase", t=30.0, phase="morning", event="end")
    *_, contrast = availability_by_population(tl, {"new-logins": 0.9, "existing-sessions": 0.95}, phase="morning")
    assert contrast.sentence == ("new logins failed for 19.5 s while existing sessions stayed available "
                                 "(100.0%) but slow (p95 600 ms, 12.0× the 50 ms before) — the pattern of "
                                 "the 11 April 2019 outage")
    assert contrast.details["slowdown"] == {"p95_s": 0.6, "before_p95_s": 0.05}
    # not slower (identity_down: the same 20 ms before and during): no "but slow"
    assert "slow" not in availability_by_population(
        identity_down(), {"new-logins": 0.9, "existing-sessions": 0.9})[-1].sentence


def test_but_slow_against_a_baseline_phase_leaves_a_disturbed_change_out():
    """A migration under load between the steady state and the window is no reference for "slow":
    with ``baseline`` the p95 before is the steady state's alone."""
    tl = Timeline()
    tl.add("phase", t=0.0, phase="steady", event="start")
    requests(tl, "existing-sessions", 0.0, 10.0, step=0.5, latency=0.05)
    tl.add("phase", t=10.0, phase="steady", event="end")
    requests(tl, "existing-sessions", 10.0, 20.0, step=0.5, latency=0.4)     # the change, under load
    tl.add("phase", t=20.0, phase="morning", event="start")
    requests(tl, "new-logins", 20.0, 30.0, ok=False, step=0.5)
    requests(tl, "existing-sessions", 20.0, 30.0, step=0.5, latency=0.6)
    tl.add("phase", t=30.0, phase="morning", event="end")
    minimums = {"new-logins": 0.9, "existing-sessions": 0.95}
    assert "slow" not in availability_by_population(tl, minimums, phase="morning")[-1].sentence   # 0.6 < 2 × 0.4
    contrast = availability_by_population(tl, minimums, phase="morning", baseline="steady")[-1]
    assert "stayed available (100.0%) but slow (p95 600 ms, 12.0× the 50 ms before)" in contrast.sentence
    assert contrast.details["slowdown"] == {"p95_s": 0.6, "before_p95_s": 0.05}


def test_contrast_passes_when_every_population_meets_its_minimum():
    verdicts = availability_by_population(identity_down(), {"new-logins": 0.0, "existing-sessions": 0.9})
    assert [v.status for v in verdicts] == [PASS, PASS, PASS]
    assert verdicts[-1].sentence.endswith("the pattern of the 11 April 2019 outage")


def test_a_difference_that_is_not_the_pattern_is_still_contrasted():
    tl = Timeline()
    tl.fault("inject", fault="latency", fault_id="f1", targets=["registry/db"], t=0.0)
    requests(tl, "searches", 0.0, 10.0, step=0.5)
    requests(tl, "logins", 0.0, 7.0, step=0.5)
    requests(tl, "logins", 7.0, 10.0, ok=False, step=0.5)
    searches, logins, contrast = availability_by_population(tl, {"searches": 0.95, "logins": 0.6})
    assert (searches.status, logins.status, contrast.status) == (PASS, PASS, PASS)
    assert contrast.sentence == ("logins fared worse than searches during the fault: 70.0% against "
                                 "100.0% available (logins failed for 2.5 s)")  # open run: to its last answer
    assert contrast.details["pattern"] is None


def test_no_contrast_when_populations_fare_alike():
    tl = Timeline()
    requests(tl, "a", 0.0, 10.0)
    requests(tl, "b", 0.0, 10.0)
    verdicts = availability_by_population(tl, {"a": 0.99, "b": 0.99})
    assert [v.name for v in verdicts] == ["availability a (over the whole drill)",
                                          "availability b (over the whole drill)"]
    assert verdicts[0].sentence == ("a: 100.0% of 100 requests succeeded over the whole drill, failed for "
                                    "0.0 s, p95 latency 20 ms (target ≥ 99.0%)")


def test_phase_window_and_unknown_population():
    tl = Timeline()
    tl.add("phase", t=0.0, phase="observe", event="start")
    requests(tl, "a", 0.0, 2.0, ok=False)
    tl.add("phase", t=2.0, phase="observe", event="end")
    requests(tl, "a", 2.0, 4.0)
    a, b = availability_by_population(tl, {"a": 0.5, "b": 0.5}, phase="observe")
    assert a.status == FAIL and a.sentence.startswith("a: 0.0% of 20 requests succeeded during observe, "
                                                      "failed for 1.9 s, no request answered")
    assert b.status == UNKNOWN and b.sentence == "b: no requests observed during observe"
