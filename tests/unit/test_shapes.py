"""Load shapes are pure: level at t, None at the end; the one generator (OpenLoop) with a user kind
declared as data refuses unbounded or foreign loads, keeps the rate and stops by itself."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from drillkit.clients import parse_user_kind
from drillkit.errors import ConfigError
from drillkit.load import OpenLoop
from drillkit.load.actions import resolve_actions
from drillkit.timeline import Timeline
from drillkit.traffic.shapes import (
    QUARTER_OPENING_HOURS,
    Constant,
    MondayBurst,
    Ramp,
    Spike,
    Steps,
    Surge,
    per_second,
    scaled,
)

# one GET per arrival, as a stack would declare it (x-drillkit.users)
HITS = parse_user_kind("hits", {"population": "load", "timeout": 2.0, "steps": [{"name": "GET /x", "path": "/x"}]},
                       file="t.yaml")


def load(url, tl, shape, **kw):
    return OpenLoop(shape, resolve_actions(HITS), timeline=tl, base_url=url, **kw)


def test_constant_and_stop():
    s = Constant(5, duration=10)
    assert s.tick(0) == 5 and s.tick(9.99) == 5
    assert s.tick(10) is None and s.tick(100) is None
    assert s.tick(-1) == 5  # before the start counts as the start
    assert s.expected() == pytest.approx(50)


def test_spike_times_four_by_default():
    s = Spike(10, duration=30, at=10, for_=5)
    assert [s.tick(t) for t in (0, 9.99, 10, 14.99, 15, 29.9)] == [10, 10, 40, 40, 10, 10]
    assert s.tick(30) is None
    assert s.peak == 40
    assert s.expected() == pytest.approx(10 * 30 + 30 * 5)


def test_ramp_continuous_and_stepped():
    r = Ramp(0, 100, duration=10)
    assert r.tick(0) == 0 and r.tick(5) == pytest.approx(50) and r.tick(9.9) == pytest.approx(99)
    assert r.tick(10) is None
    st = Ramp(10, 40, duration=8, steps=4)
    assert [st.tick(t) for t in (0, 1.99, 2, 4, 6, 7.99)] == [10, 10, 20, 30, 40, 40]
    assert Ramp(3, 9, duration=1, steps=1).tick(0.5) == 3
    down = Ramp(10, 0, duration=10)
    assert down.tick(5) == pytest.approx(5)


def test_steps_for_saturation():
    s = Steps(start=10, step=10, every=2, maximum=50)
    assert s.count == 5 and s.duration == 10
    assert [s.tick(t) for t in (0, 1.9, 2, 8, 9.99)] == [10, 10, 20, 50, 50]
    assert s.tick(10) is None
    assert s.index(5) == 2


def test_monday_burst_peaks_at_opening_and_decays():
    b = MondayBurst(10, duration=20, at=2, factor=5, half_life=2)
    assert b.tick(0) == 0 and b.tick(1.99) == 0          # closed before opening
    assert b.tick(2) == pytest.approx(50)               # everyone at 08:00
    assert b.tick(4) == pytest.approx(10 + 20)          # excess halved after one half-life
    assert b.tick(19.9) == pytest.approx(10, abs=0.1)   # back to base
    assert b.peak == pytest.approx(50)
    assert MondayBurst(10, duration=5, before=0.5).tick(0) == pytest.approx(50)


def test_surge_times_twenty_rises_and_holds():
    s = Surge(2, duration=20, at=5, rise=2)
    assert s.tick(4.99) == 2
    assert s.tick(6) == pytest.approx(2 + (40 - 2) / 2)
    assert s.tick(7) == 40 and s.tick(19.9) == 40
    assert s.tick(20) is None
    short = Surge(2, duration=20, at=5, rise=0, for_=5)
    assert short.tick(5) == 40 and short.tick(10) == 2


def test_scaled_keeps_duration():
    s = scaled(Spike(2, duration=10, at=1, for_=1), 3)
    assert s.tick(0) == 6 and s.tick(1.5) == 24 and s.tick(10) is None


@pytest.mark.parametrize("make", [
    lambda: Constant(-1, 10), lambda: Constant(1, 0), lambda: Constant(float("nan"), 1),
    lambda: Spike(1, 10, at=1, for_=0), lambda: Ramp(0, 1, 5, steps=0),
    lambda: Steps(10, 0, 1, 20), lambda: Steps(10, 1, 1, 5), lambda: MondayBurst(1, 5, half_life=0),
    lambda: Surge(1, 10, at=-1), lambda: Constant(True, 1),
])
def test_bad_parameters_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_quarter_compression():
    assert QUARTER_OPENING_HOURS == 546
    assert per_second(25_000, drill_seconds_per_quarter=3600) == pytest.approx(6.944, abs=1e-3)
    with pytest.raises(ValueError):
        per_second(1, drill_seconds_per_quarter=0)


def test_generator_refuses_foreign_targets_and_unbounded_loads():
    tl = Timeline()
    with pytest.raises(ConfigError):
        load("http://10.0.0.1:80", tl, Constant(1, 1))
    with pytest.raises(ValueError):
        load("http://127.0.0.1:9", tl, Constant(1, 3600))
    with pytest.raises(ValueError):
        load("http://127.0.0.1:9", tl, Constant(1, 1), concurrency=0)


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0

    def do_GET(self):  # noqa: N802
        time.sleep(self.delay)
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_generator_follows_the_rate_and_stops_by_itself(server):
    _Slow.delay = 0.0
    tl = Timeline()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    gen = load(url, tl, Constant(50, duration=1.0), concurrency=8)
    t = time.monotonic()
    c = gen.run()
    assert c.arrivals == 50 and c.never_sent == 0 and c.ok == c.requests == c.started == 50
    assert time.monotonic() - t < 1.0 + gen.timeout + 1.0   # the schedule, a last request's timeout, a margin
    probes = tl.probes("load")
    assert len(probes) == 50 and all(p["ok"] and p["status"] == 200 for p in probes)
    assert sorted(p["arrival"] for p in probes) == list(range(50))


def test_arrivals_wait_for_a_busy_worker_and_are_given_up_unsent(server):
    """Open loop: 40 arrivals in 1 s, 2 workers of 0.5 s — the arrivals keep coming, wait, and
    those still waiting after the timeout are recorded as never sent."""
    _Slow.delay = 0.5
    tl = Timeline()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    c = load(url, tl, Constant(40, duration=1.0), concurrency=2, timeout=1.0).run()
    assert c.arrivals == 40 and c.never_sent > 20 and c.started <= 10
    unsent = [p for p in tl.probes("load") if p.get("sent") is False]
    assert len(unsent) == c.never_sent and not any(p["ok"] for p in unsent)
    assert all(p["error"] == "timeout" for p in unsent)
    served = [p for p in tl.probes("load") if p.get("sent", True)]
    assert len(served) == c.started and min(p["latency"] for p in served) >= 0.45


def test_generator_bounded_by_count(server):
    _Slow.delay = 0.0
    tl = Timeline()
    t = time.monotonic()
    c = load(f"http://127.0.0.1:{server.server_address[1]}", tl, Constant(500, 5), max_arrivals=30).run()
    assert c.arrivals == 30 and time.monotonic() - t < 5   # stopped by the count, not the 5 s schedule
    assert len(tl.probes("load")) == 30
