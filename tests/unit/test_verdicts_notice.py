"""disruption_notice: while the service was down, did users see the notice page?"""

from __future__ import annotations

from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, UNKNOWN, disruption_notice


def down(notice, refused=0, timeouts=0, bare=0, *, heal=True):
    """All backends stopped from 1 s to 20 s; the probe's failed answers as given, in that order."""
    tl = Timeline()
    tl.probe(population="probe", client="probe", op="GET /", ok=True, t=0.5, t_end=0.51, status=200)
    tl.fault("inject", fault="stop", fault_id="f1", targets=["registry/app-1", "registry/app-2"], t=1.0)
    kinds = ["notice"] * notice + ["refused"] * refused + ["timeout"] * timeouts + ["bare"] * bare
    for i, kind in enumerate(kinds):
        t = 1.0 + i * 0.01
        tl.probe(population="probe", client="probe", op="GET /", ok=False, t=t, t_end=t + 0.005,
                 status={"notice": 503, "bare": 502}.get(kind),
                 error={"refused": "ConnectionRefusedError", "timeout": "timeout"}.get(kind),
                 notice=kind == "notice")
    if heal:
        tl.fault("heal", fault="stop", fault_id="f1", targets=["registry/app-1"], t=20.0)
    tl.probe(population="probe", client="probe", op="GET /", ok=False, t=21.0, t_end=21.1)  # after: ignored
    return tl


def test_notice_passes_when_nearly_every_failure_showed_it():
    v = disruption_notice(down(98, refused=2))
    assert v.status == PASS and v.value == 0.98
    assert v.sentence == ("when the service was down, 98% of failed requests showed the disruption notice "
                          "(2% got connection errors)")
    v = disruption_notice(down(10))
    assert v.sentence == "when the service was down, 100% of failed requests showed the disruption notice"


def test_notice_fails_when_users_got_browser_errors():
    v = disruption_notice(down(60, refused=20, timeouts=15, bare=5))
    assert v.status == FAIL and v.target == "≥ 95%"
    assert v.sentence == ("when the service was down, 60% of failed requests showed the disruption notice "
                          "(20% got connection errors, 15% timed out, 5% got an HTTP error without the "
                          "notice)")
    assert v.details["statuses"] == [502, 503]


def test_notice_unknown_without_fault_or_failures():
    tl = Timeline()
    tl.probe(population="probe", client="probe", op="GET /", ok=False, t=0.0, t_end=0.1)
    v = disruption_notice(tl)
    assert v.status == UNKNOWN and v.sentence == "disruption notice unknown: no fault on the timeline"
    v = disruption_notice(down(0))
    assert v.status == UNKNOWN
    assert v.sentence == "disruption notice unknown: no probe request failed during the fault"


def test_an_unhealed_fault_lasts_to_the_end():
    v = disruption_notice(down(0, refused=1, heal=False))  # the late failure now counts too
    assert v.details["failed"] == 2 and v.status == FAIL
