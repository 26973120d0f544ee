"""Recovery time, sessions lost, acknowledged writes lost — each proven both ways."""

from drillkit.timeline import Timeline
from drillkit.verdicts import recovery_time, sessions_lost, writes_lost


def kill_timeline(outage: float, *, lost_session: bool = False) -> Timeline:
    """Two clerks on app-1/app-2, app-2 killed at t=5; clerk-2 fails for `outage` seconds."""
    tl = Timeline()
    t = 0.0
    while t < 5.0:
        for c, n in (("clerk-1", "app-1"), ("clerk-2", "app-2")):
            tl.probe(population="existing-sessions", client=c, op="r", ok=True, t=t, t_end=t + 0.01,
                     status=200, node=n, session="valid")
        t += 0.1
    tl.fault("inject", fault="kill", fault_id="f1", targets=["registry/app-2"], t=5.0)
    first = True
    while t < 20.0:
        tl.probe(population="existing-sessions", client="clerk-1", op="r", ok=True, t=t, t_end=t + 0.01,
                 status=200, node="app-1", session="valid")
        down = t < 5.0 + outage
        if lost_session and first:
            tl.probe(population="existing-sessions", client="clerk-2", op="r", ok=False, t=t, t_end=t + 0.01,
                     status=401, node="app-3", session="rejected")
        else:
            tl.probe(population="existing-sessions", client="clerk-2", op="r", ok=not down, t=t,
                     t_end=t + 0.01, status=None if down else 200, node=None if down else "app-3",
                     session="none" if down else "valid")
        first = False
        t += 0.1
    tl.fault("heal", fault="kill", fault_id="f1", targets=["registry/app-2"], t=20.0)
    return tl


def test_recovery_time_passes_on_quick_failover():
    v = recovery_time(kill_timeline(1.0), target=3.0, population="existing-sessions")
    assert v.status == "pass"
    assert 1.0 <= v.value <= 1.2
    assert v.sentence.startswith("recovery time 1.1 s: 1 of 2 existing-sessions users hit, ")
    assert v.details["per_user"]["clerk-2"]["served_before"] == "app-2"  # attribution is detail


def test_recovery_time_fails_on_slow_failover():
    v = recovery_time(kill_timeline(6.0), target=3.0, population="existing-sessions")
    assert v.status == "fail"
    assert v.value > 6.0
    assert "(target ≤ 3 s" in v.sentence


def test_recovery_time_unknown_without_fault():
    assert recovery_time(Timeline(), target=1, population="x").status == "unknown"


def test_sessions_lost_both_ways():
    assert sessions_lost(kill_timeline(1.0)).sentence == "sessions lost: 0 of 2 (expected 0)"
    v = sessions_lost(kill_timeline(1.0, lost_session=True))
    assert v.status == "fail"
    assert v.sentence == "sessions lost: 1 of 2 (expected 0)"


def test_writes_lost_both_ways():
    tl = Timeline()
    for i in range(1, 6):
        tl.write(client="c", id=str(i), op="move")
    tl.add("ground-truth", what="writes", ids=["1", "2", "3", "4", "5", "6"])
    assert writes_lost(tl).status == "pass"
    tl2 = Timeline()
    for i in range(1, 6):
        tl2.add("write", t=float(i), client="c", id=str(i), op="move")
    tl2.add("ground-truth", what="writes", ids=["1", "2", "3"])
    v = writes_lost(tl2)
    assert v.status == "fail"
    assert v.sentence == ("acknowledged writes lost: 2 of 5 (expected 0), acknowledged over 1.0 s "
                          "(+4.0 s to +5.0 s into the drill; no fault on the timeline)")
    assert v.details["rpo_seconds"] == 1.0


def test_writes_lost_unknown_without_ground_truth():
    tl = Timeline()
    tl.write(client="c", id="1", op="move")
    assert writes_lost(tl).status == "unknown"


def test_availability_of_requests_none_answered_has_no_latency_figure():
    """A window where every request failed (a broken protocol path) says so; no `nan ms`."""
    from drillkit.verdicts import availability
    tl = kill_timeline(20.0)
    v = availability(tl, population="existing-sessions", since=6.0, until=10.0)
    assert v.value < 1 and "nan" not in v.sentence
    only_failed = Timeline()
    only_failed.probe(population="shared", client="c", op="r", ok=False, t=1.0, t_end=1.1, error="HTTP 502")
    v = availability(only_failed, population="shared")
    assert v.value == 0.0 and v.sentence.endswith("none answered") and v.details["p95_ms"] is None
