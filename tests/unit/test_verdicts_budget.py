"""error_budget: failures against what the SLO allows."""

from __future__ import annotations

import pytest

from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, UNKNOWN, error_budget


def drill(failures, total=1000, fault_at=None):
    tl = Timeline()
    if fault_at is not None:
        tl.fault("inject", fault="kill", fault_id="f1", targets=["booking/app-1"], t=fault_at)
    for i in range(total):
        ok = not (100 <= i < 100 + failures)
        tl.probe(population="citizens", client="c", op="GET /slots", ok=ok, t=i * 0.1, t_end=i * 0.1 + 0.01)
    return tl


def test_error_budget_fails_when_the_drill_burns_more_than_the_budget():
    v = error_budget(drill(12), "citizens", slo=0.995)
    assert v.status == FAIL and v.value == 240.0 and v.unit == "%"
    assert v.sentence == ("error budget: 240% consumed by this drill (SLO 99.5%): 12 of 1000 citizens "
                          "requests failed, the budget allowed 5.0")


def test_error_budget_passes_within_budget():
    v = error_budget(drill(2), "citizens", slo=0.995)
    assert v.status == PASS
    assert v.sentence == ("error budget: 40% consumed by this drill (SLO 99.5%): 2 of 1000 citizens "
                          "requests failed, the budget allowed 5.0")
    assert error_budget(drill(5), "citizens", slo=0.995).status == PASS  # exactly 100%
    assert error_budget(drill(1), "citizens", slo=0.9995).sentence.startswith(
        "error budget: 200% consumed by this drill (SLO 99.95%)")


def test_error_budget_window_starts_at_the_fault():
    tl = drill(12, fault_at=10.0)  # failures at 10.0–11.1 s
    v = error_budget(tl, "citizens", slo=0.99, window=20.0)
    assert v.status == FAIL and v.details["requests"] == 200
    assert v.sentence == ("error budget: 600% consumed by this drill (SLO 99%): 12 of 200 citizens "
                          "requests failed in the 20 s window, the budget allowed 2.0")


def test_error_budget_unknown_and_edge_cases():
    v = error_budget(Timeline(), "citizens", slo=0.995)
    assert v.status == UNKNOWN
    assert v.sentence == "error budget unknown: no citizens requests (SLO 99.5%)"
    v = error_budget(drill(1, total=200), "citizens", slo=1.0)
    assert v.status == FAIL and v.value is None
    assert v.sentence == ("error budget: exhausted by this drill (SLO 100% allows no failure): 1 of 200 "
                          "citizens requests failed, the budget allowed 0.0")
    with pytest.raises(ValueError, match="slo must be a ratio"):
        error_budget(Timeline(), "citizens", slo=99.5)
