"""ClientPool: bounds in count and time, readiness, and what every invoke leaves on the timeline."""

import time

import pytest

from drillkit.clients import Client, ClientPool, Op, Outcome
from drillkit.timeline import Timeline


class Scripted(Client):
    """Returns the scripted outcomes in turn (then ok reads); writes are ops with write=True."""

    def __init__(self, script=(), fail_open=0):
        super().__init__()
        self.script, self.fail_open, self.opened, self.closed = list(script), fail_open, 0, False

    def open(self, ctx):
        self.opened += 1
        if self.opened <= self.fail_open:
            raise ConnectionError("not yet")
        super().open(ctx)

    def ops(self, n):
        if self.script:
            kind = self.script.pop(0)
            yield Op("write", "writers", write=True, data=kind)
        else:
            yield Op("read", "readers")

    def invoke(self, op):
        if op.data == "boom":
            raise RuntimeError("driver bug")
        if op.data == "ok":
            return Outcome("ok", id=7, node="db-1", attrs={"slot": 3}, ledger="loans", write_op="loan")
        if op.data == "unknown":
            return Outcome("unknown", error="timeout")
        if op.data == "no-id":
            return Outcome("ok")
        if op.data == "fail":
            return Outcome("fail", error="refused")
        return Outcome("ok")

    def close(self):
        self.closed = True


def run(clients, seconds=0.4, **kw):
    tl = Timeline()
    pool = ClientPool(lambda i: clients[i], len(clients), timeline=tl, think=0.01, **kw)
    pool.start(wait_ready=5)
    time.sleep(seconds)
    pool.stop()
    return tl, pool


@pytest.mark.parametrize("count", [0, -1, 501, True, 2.5])
def test_count_is_bounded(count):
    with pytest.raises(ValueError):
        ClientPool(lambda i: Scripted(), count, timeline=Timeline())


def test_time_is_bounded_without_stop():
    tl = Timeline()
    pool = ClientPool(lambda i: Scripted(), 3, timeline=tl, think=0.01, max_duration=0.3).start()
    deadline = time.monotonic() + 5
    while pool.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pool.running and all(c.closed for c in pool.clients)
    with pytest.raises(ValueError):
        ClientPool(lambda i: Scripted(), 1, timeline=tl, max_duration=10_000)


def test_every_invoke_is_a_probe_and_writes_go_to_the_ledger():
    c = Scripted(["ok", "unknown", "no-id", "fail", "boom"])
    tl, pool = run([c])
    probes = tl.probes()
    assert [p["ok"] for p in probes[:5]] == [True, False, True, False, False]
    assert probes[0]["node"] == "db-1" and probes[0]["op"] == "write" and probes[0]["population"] == "writers"
    assert probes[1]["error"] == "timeout" and probes[3]["error"] == "refused"
    assert probes[4]["error"].startswith("RuntimeError: driver bug")
    assert all(p["t_end"] >= p["t"] and p["latency"] >= 0 for p in probes)
    assert {p["population"] for p in probes[5:]} == {"readers"}
    writes = tl.writes()
    assert writes[0]["id"] == "7" and writes[0]["op"] == "loan" and writes[0]["ledger"] == "loans"
    assert writes[0]["slot"] == 3 and "outcome" not in writes[0]
    # the unknown outcome and the raising write (it may have happened) are unknown writes
    assert [w.get("outcome") for w in writes] == [None, "unknown", "unknown"]
    assert writes[1]["id"] is None
    assert pool.counts["writes"] == 1 and pool.counts["unknown_writes"] == 2
    assert c.closed


def test_pool_waits_for_clients_to_open_and_names_them():
    clients = [Scripted(fail_open=2), Scripted()]
    tl = Timeline()
    pool = ClientPool(lambda i: clients[i], 2, timeline=tl, think=0.01, name="loaners")
    pool.start(wait_ready=10)
    try:
        assert pool.ready == 2 and clients[0].opened == 3
        assert [c.name for c in clients] == ["loaners-001", "loaners-002"]
        assert "not yet" in pool.open_errors["loaners-001"]
    finally:
        pool.stop()


def test_a_client_that_never_opens_is_not_ready_and_sends_nothing():
    tl, pool = run([Scripted(fail_open=10**6)], seconds=0.3)
    assert pool.ready == 0 and tl.probes() == []


def test_stop_ends_every_thread():
    tl, pool = run([Scripted() for _ in range(20)], seconds=0.2)
    assert not pool.running
    n = len(tl.probes())
    time.sleep(0.1)
    assert len(tl.probes()) == n


def test_drill_runs_client_classes_and_stops_them_with_its_traffic():
    from drillkit.drill import Drill
    from drillkit.errors import ConfigError, DrillkitError

    d = Drill(None, Timeline(), allure_steps=False)
    pool = d.clients(Scripted, 3, think=0.01, name="loaners")
    assert pool.ready == 3 and [c.name for c in pool.clients] == ["loaners-001", "loaners-002", "loaners-003"]
    time.sleep(0.1)
    d.stop_traffic()
    assert not pool.running and d.timeline.probes("readers")
    with pytest.raises(ConfigError, match="no user kind 'readers'"):
        d.users("readers", 2)
    with pytest.raises(DrillkitError, match="only 0 of 1 never clients could open"):
        d.clients(lambda i: Scripted(fail_open=10**6), 1, wait_ready=0.3, name="never")
    d.stop_traffic()
