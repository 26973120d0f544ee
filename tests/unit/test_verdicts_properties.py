"""Properties of the time checkers on random ok/fail sequences (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drillkit.timeline import Timeline
from drillkit.verdicts import (
    PASS,
    UNKNOWN,
    availability_by_population,
    detection_time,
    error_budget,
    outage_window,
    recovery_time,
)

request = st.tuples(st.booleans(), st.floats(0.001, 2.0), st.floats(0.0, 1.0))  # ok, latency, gap


def timeline(before, after):
    """Requests of one population before and after a kill at the first 'after' send time."""
    tl, t = Timeline(), 0.0
    for ok, latency, gap in before:
        tl.probe(population="p", client="c", op="GET /", ok=ok, t=t, t_end=t + latency)
        t += gap + 0.001
    fault_at = t
    tl.fault("inject", fault="kill", fault_id="f1", targets=["s/n1"], t=fault_at)
    for ok, latency, gap in after:
        tl.probe(population="p", client="c", op="GET /", ok=ok, t=t, t_end=t + latency)
        t += gap + 0.001
    return tl, fault_at


@settings(max_examples=100, deadline=None)
@given(st.lists(request, max_size=10), st.lists(request, max_size=40))
def test_outage_fits_in_the_drill_and_is_covered_by_the_failure_span(before, after):
    tl, fault_at = timeline(before, after)
    v = outage_window(tl, "p", max=1.0)
    if not after:
        assert v.status == UNKNOWN
        return
    assert 0.0 <= v.value <= tl.end - fault_at + 1e-3  # values are rounded to ms
    if all(ok for ok, _, _ in after):
        assert v.value == 0.0 and v.status == PASS
    else:
        assert v.value > 0.0 or v.details["failures"] > 0
        span = availability_by_population(tl, {"p": 0.0})[0].details["failed_for_s"]
        assert span + 1e-3 >= v.value  # the longest run is part of the total failure span
        assert span <= tl.end - fault_at + 1e-3


@settings(max_examples=100, deadline=None)
@given(st.lists(request, max_size=10), st.lists(request, max_size=40))
def test_detection_and_recovery_are_never_before_the_fault(before, after):
    tl, fault_at = timeline(before, after)
    d = detection_time(tl, "p")
    failed_after = any(not ok for ok, _, _ in after)
    if d.status != UNKNOWN:
        assert d.value >= 0.0
    else:
        assert not failed_after
    r = recovery_time(tl, target=1.0, population="p", consecutive=1)
    if r.value is not None:
        assert r.value >= 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=200), st.sampled_from([0.9, 0.99, 0.995, 0.999]))
def test_error_budget_is_the_failure_ratio_over_the_allowance(oks, slo):
    tl = Timeline()
    for i, ok in enumerate(oks):
        tl.probe(population="p", client="c", op="GET /", ok=ok, t=i * 0.1, t_end=i * 0.1 + 0.01)
    v = error_budget(tl, "p", slo=slo)
    ratio = oks.count(False) / len(oks)
    assert abs(v.value - round(100 * ratio / (1 - slo), 1)) < 0.11
    assert (v.status == PASS) == (ratio <= (1 - slo) + 1e-12)
