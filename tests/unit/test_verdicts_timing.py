"""detection_time, outage_window and recovery_time on synthetic timelines."""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, UNKNOWN, detection_time, outage_window, recovery_time


def requests(tl, population, start, stop, *, ok=True, step=0.1, latency=0.02, client="c1", **kw):
    t = start
    while t < stop - 1e-9:
        tl.probe(population=population, client=client, op="GET /", ok=ok, t=round(t, 6),
                 t_end=round(t + latency, 6), status=200 if ok else None,
                 error=None if ok else "ConnectionRefusedError", **kw)
        t += step


def kill_at(tl, t=1.0, heal=None):
    tl.fault("inject", fault="kill", fault_id="f1", targets=["registry/app-1"], t=t)
    if heal is not None:
        tl.fault("heal", fault="kill", fault_id="f1", targets=["registry/app-1"], t=heal)


def outage_timeline():
    """Clerks fine until 1.0, kill at 1.0, failures from 1.3 to 3.9, fine again from 4.0."""
    tl = Timeline()
    requests(tl, "clerks", 0.0, 1.3)
    kill_at(tl, 1.0, heal=3.5)
    requests(tl, "clerks", 1.3, 4.0, ok=False)
    requests(tl, "clerks", 4.0, 6.0)
    return tl


# -- detection time --------------------------------------------------------------------------------

def test_detection_time_passes_within_target():
    v = detection_time(outage_timeline(), "clerks", max=0.5)
    assert v.status == PASS
    assert v.value == 0.32
    assert v.sentence == "detection time 0.32 s for clerks after kill of registry/app-1 (target ≤ 0.5 s)"
    assert (v.unit, v.target) == ("s", "≤ 0.5 s")


def test_detection_time_fails_when_late_and_names_the_population_that_saw_it():
    v = detection_time(outage_timeline(), max=0.1)
    assert v.status == FAIL
    assert v.sentence == "detection time 0.32 s for clerks after kill of registry/app-1 (target ≤ 0.1 s)"


def test_detection_time_without_target_passes():
    v = detection_time(outage_timeline())
    assert v.status == PASS and v.target is None
    assert v.sentence == "detection time 0.32 s for clerks after kill of registry/app-1"


def test_detection_time_unknown_without_fault_or_without_failure():
    tl = Timeline()
    requests(tl, "clerks", 0.0, 2.0)
    v = detection_time(tl, "clerks", max=1.0)
    assert v.status == UNKNOWN
    assert v.sentence == "detection time unknown: no fault on the timeline"
    kill_at(tl, 1.0)
    v = detection_time(tl, "clerks", max=1.0)
    assert v.status == UNKNOWN
    assert v.sentence == ("detection time unknown: no request of clerks failed after kill of "
                          "registry/app-1 (10 request(s) observed)")


def test_detection_time_counts_a_request_sent_before_the_fault_that_fails_after_it():
    tl = Timeline()
    kill_at(tl, 1.0)
    tl.probe(population="probe", client="probe", op="GET /", ok=False, t=0.9, t_end=1.4, error="timeout")
    assert detection_time(tl).value == 0.4


# -- outage window ---------------------------------------------------------------------------------

def test_outage_window_passes_and_gives_start_and_end_relative_to_the_fault():
    v = outage_window(outage_timeline(), "clerks", max=5.0)
    assert v.status == PASS
    assert v.value == 2.72
    assert v.sentence == ("outage window 2.72 s for clerks after kill of registry/app-1: from +0.30 s "
                          "to +3.02 s, 27 failed request(s) (target ≤ 5 s)")
    assert v.details["start"] == 0.3 and v.details["end"] == 3.02


def test_outage_window_fails_over_target():
    v = outage_window(outage_timeline(), "clerks", max=2.0)
    assert v.status == FAIL
    assert v.sentence.endswith("27 failed request(s) (target ≤ 2 s)")


def test_outage_window_picks_the_longest_run():
    tl = Timeline()
    kill_at(tl, 0.0)
    requests(tl, "clerks", 0.0, 0.3, ok=False)     # short run, ends at 0.32
    requests(tl, "clerks", 0.3, 0.5)
    requests(tl, "clerks", 0.5, 1.5, ok=False)     # long run, ends at 1.52
    requests(tl, "clerks", 1.5, 2.0)
    v = outage_window(tl, "clerks")
    assert v.value == 1.02 and v.details["runs"] == 2
    assert "from +0.50 s to +1.52 s, 10 failed request(s)" in v.sentence


def test_outage_window_never_over_fails_a_target():
    tl = Timeline()
    requests(tl, "clerks", 0.0, 1.0)
    kill_at(tl, 1.0)
    requests(tl, "clerks", 1.0, 2.0, ok=False)
    v = outage_window(tl, "clerks", max=10.0)
    assert v.status == FAIL and v.details["open"]
    assert v.sentence == ("outage window at least 0.92 s for clerks after kill of registry/app-1: from "
                          "+0.00 s to past the end of the timeline (last failure answered at +0.92 s), "
                          "10 failed request(s) (target ≤ 10 s)")


def test_outage_window_zero_when_nothing_failed_and_unknown_without_requests():
    tl = Timeline()
    kill_at(tl, 1.0)
    v = outage_window(tl, "clerks", max=1.0)
    assert v.status == UNKNOWN
    assert v.sentence == "outage window unknown: no request of clerks after kill of registry/app-1"
    requests(tl, "clerks", 1.0, 2.0)
    v = outage_window(tl, "clerks", max=1.0)
    assert v.status == PASS and v.value == 0.0
    assert v.sentence == ("outage window 0.00 s for clerks after kill of registry/app-1: no request "
                          "failed (10 request(s) observed) (target ≤ 1 s)")
    assert outage_window(Timeline(), "clerks").sentence == "outage window unknown: no fault on the timeline"


# -- recovery time (per user; tests/unit/test_verdicts_recovery.py has the definitions) --------------

def test_recovery_time_of_one_user_is_its_first_success_after_the_last_failure():
    tl = Timeline()
    requests(tl, "clerks", 0.0, 1.0)
    kill_at(tl, 1.0, heal=3.5)
    requests(tl, "clerks", 1.0, 4.0, ok=False)
    requests(tl, "clerks", 4.0, 6.0)
    v = recovery_time(tl, target=5.0, population="clerks")
    assert v.status == PASS and v.value == 3.02
    assert v.sentence.startswith("recovery time 3.0 s: 1 of 1 clerks users hit, median 3.0 s, p95 3.0 s, "
                                 "last user back 3.0 s after kill of registry/app-1 (target ≤ 5 s)")
    v = recovery_time(tl, target=2.0, population="clerks")
    assert v.status == FAIL and v.sentence.startswith("recovery time 3.0 s: 1 of 1 clerks users hit")


def test_recovery_time_ignores_successes_before_the_fault_shows():
    v = recovery_time(outage_timeline(), target=5.0, population="clerks")
    assert v.value == 3.02
