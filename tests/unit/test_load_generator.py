"""The open-loop generator against an in-process service of known capacity (workers x a sleep):
arrivals keep their rate whatever the service does, and the timeline says what became of each."""

from __future__ import annotations

import pytest
from load_support import Service

from drillkit.load.generator import Action, OpenLoop
from drillkit.load.measure import arrivals, phase_stats, run_of
from drillkit.timeline import Timeline
from drillkit.traffic.shapes import Constant, Spike


def run(shape, service, **kw) -> Timeline:
    tl = Timeline()
    OpenLoop(shape, [Action("visitors", service.client)], timeline=tl, **kw).run()
    return tl


def test_every_arrival_is_recorded_with_its_due_time():
    svc = Service(workers=8, cost=0.01)
    tl = run(Constant(40, 1.0), svc)
    r = run_of(tl)
    arr = arrivals(tl, r)
    assert len(arr) == 40 and all(a.outcome == "served" for a in arr)
    dues = [a.due for a in arr]
    assert all(0.02 < b - a < 0.03 for a, b in zip(dues, dues[1:]))       # 25 ms apart: 40/s
    assert svc.served == 40                                              # the service's own count
    end = next(x for x in tl.of("load") if x["event"] == "end")
    assert end["arrivals"] == 40 and end["ok"] == 40 and end["never_sent"] == 0


def test_a_slow_service_does_not_slow_the_arrivals():
    """Open loop: 1 worker of 0.2 s (5/s) offered 20/s — arrivals still come at 20/s; most wait and
    time out (never sent, or the service's own wait), a few are served: the service's own count."""
    svc = Service(workers=1, cost=0.2, timeout=0.4)
    tl = run(Constant(20, 1.0), svc, timeout=0.5, concurrency=50)
    arr = arrivals(tl, run_of(tl))
    assert len(arr) == 20
    served = [a for a in arr if a.outcome == "served"]
    assert len(served) == svc.served and 3 <= len(served) <= 8
    assert sum(a.outcome == "timeout" for a in arr) == 20 - len(served)


def test_arrivals_that_wait_for_a_worker_past_the_timeout_are_timed_out_unsent():
    svc = Service(workers=4, cost=0.3)
    tl = run(Constant(20, 1.0), svc, timeout=0.5, concurrency=1)
    arr = arrivals(tl, run_of(tl))
    unsent = [a for a in arr if not a.sent]
    assert unsent and all(a.outcome == "timeout" for a in unsent)
    assert len(arr) == 20 and svc.served == sum(a.outcome == "served" for a in arr)
    assert max(a.waited for a in arr if a.sent) <= 0.5 + 0.05


def test_a_spike_is_judged_per_phase():
    svc = Service(workers=2, cost=0.05, mode="shed")     # 40/s
    tl = run(Spike(10, 3.0, at=1.0, for_=1.0, factor=8), svc, concurrency=100)
    stats = {s.name: s for s in phase_stats(tl, run_of(tl))}
    assert set(stats) == {"before", "spike ×8", "after"}
    assert stats["before"].served_share == 1.0 and stats["before"].offered == 10
    spike = stats["spike ×8"]
    assert spike.offered == 80 and spike.shed > 20 and spike.served + spike.shed == 80
    assert sum(s.served for s in stats.values()) == svc.served          # the service's own count


def test_bounds_refuse_before_anything_starts():
    svc = Service(1, 0.01)
    with pytest.raises(ValueError):
        OpenLoop(Constant(1, 1), [Action("v", svc.client)], timeline=Timeline(), concurrency=501)
    with pytest.raises(ValueError):
        OpenLoop(Constant(1, 1000), [Action("v", svc.client)], timeline=Timeline())
    with pytest.raises(Exception):
        OpenLoop(Constant(1, 1), [Action("v", svc.client)], timeline=Timeline(), base_url="http://10.0.0.1:80")


def test_stop_ends_a_long_load_at_once():
    import time
    svc = Service(2, 0.01)
    gen = OpenLoop(Constant(20, 60), [Action("v", svc.client)], timeline=Timeline()).start()
    time.sleep(0.3)
    t = time.monotonic()
    counts = gen.stop()
    assert time.monotonic() - t < 2 and counts.arrivals < 40 and not gen.running
