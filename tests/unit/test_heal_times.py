"""Heal records carry when the heal began, when it returned and when the healed nodes were healthy
again; "degraded after recovery" judges the service from the last of these it knows (issue 16: a
heal stamped when its call began, the node healthy 2.3 s later, counted the start-up as a service
left worse). Timelines written before these fields are read as before.

The recovery timelines are small simulations whose right answer is known: 18 users behind a
round-robin balancer without health checks (a request to a node that is down or still starting
fails), one of three nodes killed at 5.0 s, its heal called at 13.0 s, the node serving from 15.3 s.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from drillkit.faults.base import Fault
from drillkit.lab.node import Node
from drillkit.timeline import Timeline
from drillkit.verdicts import FAIL, PASS, recovery_time

POP = "clerks"
INJECT, HEAL, BACK, END = 5.0, 13.0, 15.3, 20.0


def simulate(*, heal_detail: dict | None = None, back: float = BACK, users: int = 18) -> Timeline:
    tl = Timeline()
    for name, s, e in (("steady", 0.0, INJECT), ("observe", INJECT, HEAL), ("recover", HEAL, END)):
        tl.add("phase", t=s, phase=name, event="start")
        tl.add("phase", t=e, phase=name, event="end")
    tl.fault("inject", fault="kill", fault_id="f1", targets=["web/app-2"], t=INJECT)
    tl.fault("heal", fault="kill", fault_id="f1", targets=["web/app-2"], t=HEAL, **(heal_detail or {}))
    rr = itertools.cycle(["app-1", "app-2", "app-3"])
    for k in range(int(END / 0.2)):
        for i in range(users):
            t = round(k * 0.2 + i * 0.01, 6)
            node = next(rr)
            failed = node == "app-2" and INJECT <= t < back
            tl.probe(population=POP, client=f"c{i:02d}", op="GET /", ok=not failed, t=t, t_end=t + 0.01,
                     status=502 if failed else 200, node=None if failed else node)
    return tl


def failed_since(tl: Timeline, since: float) -> int:
    """The simulation's own count: requests of the population sent from ``since`` to the end that failed."""
    return sum(1 for r in tl.probes(POP) if since <= r["t"] < END and not r["ok"])


# -- the record -----------------------------------------------------------------------------------------

def test_an_old_heal_record_is_read_as_healed_at_its_stamp():
    (w,) = simulate().fault_windows()
    assert (w.end, w.heal_done, w.healthy, w.whole_again) == (HEAL, None, None, HEAL)


def test_a_new_heal_record_gives_done_and_healthy():
    (w,) = simulate(heal_detail={"started": HEAL, "done": 15.4, "healthy": BACK}).fault_windows()
    assert (w.end, w.heal_done, w.healthy, w.whole_again) == (HEAL, 15.4, BACK, BACK)
    (w,) = simulate(heal_detail={"started": HEAL, "done": 14.0, "healthy": None}).fault_windows()
    assert w.whole_again == 14.0      # no health check: from when the heal returned


@dataclass
class Service:
    healthcheck: dict | None = None


@dataclass
class StandInEnv:
    """What a heal asks of its environment: the services' health checks, a health wait, release."""

    spec: object = None
    waits: list = field(default_factory=list)

    def __post_init__(self):
        self.spec = type("Spec", (), {"services": {"app": Service({"test": ["CMD", "true"]}),
                                                   "cache": Service(None)}})()

    def wait_healthy(self, node, deadline=60.0):
        time.sleep(0.05)
        self.waits.append(node.service)
        return 0.05

    def release(self, node):
        pass

    def leave_as_is(self, node, why):
        pass


class Restarts(Fault):
    """Starts its nodes again in its undo and waits for each one's health, as the process kinds do."""

    kind = "restarts"

    def __init__(self, nodes, **kw):
        super().__init__(None, **kw)
        self._given = nodes

    def _inject(self, env):
        self.nodes = list(self._given)

    def _heal(self, env):
        for n in self.nodes:
            time.sleep(0.02)   # the start call
            self.wait_healthy(env, n, 1.0)


def node(service: str, replica: int = 1) -> Node:
    return Node("web", service, replica, "default", f"dk-web-{service}-{replica}", "dk")


def heal_record(tl: Timeline) -> dict:
    return next(r for r in tl.of("fault") if r["event"] == "heal")


def test_the_heal_record_says_when_the_heal_began_returned_and_the_node_was_healthy():
    tl, env = Timeline(), StandInEnv()
    f = Restarts([node("cache"), node("app")])
    f.inject(env, tl)
    f.heal(env, tl)
    d = heal_record(tl)["detail"]
    assert heal_record(tl)["t"] == d["started"] < d["healthy"] <= d["done"]
    # only the node with a health check is waited for as "healthy"; the cache's wait came first
    assert d["healthy"] - d["started"] >= 0.09 and env.waits == ["cache", "app"]


def test_healthy_is_null_without_a_health_check_and_for_a_heal_that_leaves_the_nodes():
    tl, env = Timeline(), StandInEnv()
    f = Restarts([node("cache")])
    f.inject(env, tl)
    f.heal(env, tl)
    d = heal_record(tl)["detail"]
    assert d["healthy"] is None and d["started"] <= d["done"]
    tl, f = Timeline(), Restarts([node("app")], heal="none")
    f.inject(env, tl)
    f.heal(env, tl)
    assert heal_record(tl)["detail"]["healthy"] is None


# -- degraded after recovery, from the node healthy --------------------------------------------------

def test_an_old_timeline_counts_the_start_up_as_degraded_as_before():
    tl = simulate()
    v = recovery_time(tl, target=15.0, population=POP)
    assert failed_since(tl, HEAL) > 0                     # the node was still starting after the stamp
    assert v.status == FAIL and v.sentence.startswith(f"degraded after recovery: {POP} ")
    assert "succeeded from the heal to the end" in v.sentence
    expected = 1 - failed_since(tl, HEAL) / v.details["after_heal_requests"]
    assert abs(v.details["after_heal_availability"] - expected) < 1e-9


def test_from_the_node_healthy_the_same_drill_is_whole_again():
    tl = simulate(heal_detail={"started": HEAL, "done": BACK + 0.01, "healthy": BACK})
    v = recovery_time(tl, target=15.0, population=POP)
    assert failed_since(tl, BACK) == 0
    assert v.status == PASS and v.details["degraded"] is False
    assert v.details["after_heal_availability"] == 1.0 and v.details["after_heal_since"] == BACK
    assert v.details["after_heal_since_from"] == "healthy"
    # the users' recovery is unchanged: the last user is back after the node serves again
    assert BACK - INJECT <= v.value <= BACK - INJECT + 0.6


def test_a_node_that_still_fails_after_its_health_check_passed_is_degraded():
    """The health check passes at 15.3 s, but the node keeps failing until 17 s: degraded, and the
    sentence says from when it was judged."""
    tl = simulate(heal_detail={"started": HEAL, "done": BACK, "healthy": BACK}, back=17.0)
    v = recovery_time(tl, target=15.0, population=POP)
    assert failed_since(tl, BACK) > 0
    assert v.status == FAIL and v.details["degraded"] is True
    assert "succeeded from the healed nodes' health checks passing (2.3 s after the heal began) to the end" \
        in v.sentence


# -- two faults: the stack is whole once the last of them is --------------------------------------------

def partition_then_kill(*, left_worse: bool) -> Timeline:
    """The patroni drill's shape (CI, stop 18): a partition 5–9 s, the primary killed at 7 s, its heal
    (failover, rejoin) returning at 21 s; 4 writers fail from 7 s until the failover at 20 s. The
    partition heals at 9 s while the kill still fails every write. ``left_worse``: after the kill's
    heal every 10th write still fails — a service left worse."""
    tl = Timeline()
    for name, s, e in (("steady", 0.0, 5.0), ("observe", 5.0, 9.0), ("recover", 9.0, 26.0)):
        tl.add("phase", t=s, phase=name, event="start")
        tl.add("phase", t=e, phase=name, event="end")
    tl.fault("inject", fault="partition", fault_id="f1", targets=["pg/pg-1"], t=5.0)
    tl.fault("inject", fault="kill", fault_id="f2", targets=["pg/pg-1"], t=7.0)
    tl.fault("heal", fault="partition", fault_id="f1", targets=["pg/pg-1"], t=9.0, started=9.0, done=9.1)
    tl.fault("heal", fault="kill", fault_id="f2", targets=["pg/pg-1"], t=12.0, started=12.0, done=21.0)
    for k in range(int(26.0 / 0.05)):
        for i in range(4):
            t = round(k * 0.05 + i * 0.01, 6)
            failed = 7.0 <= t < 20.0 or (left_worse and t >= 21.0 and k % 10 == 0)
            tl.probe(population="writers", client=f"w{i}", op="INSERT", ok=not failed, t=t, t_end=t + 0.01)
    return tl


def test_the_failover_still_running_when_the_partition_heals_is_outage_not_degradation():
    v = recovery_time(partition_then_kill(left_worse=False), target=45, population="writers")
    assert v.status == PASS, v.sentence
    # the window after the heal began when the kill's heal returned, not the partition's
    assert v.details["after_heal_since"] == 21.0 and v.details["after_heal_healed_by"] == "f2"
    assert v.details["after_heal_availability"] == 1.0 and v.details["degraded"] is False


def test_a_service_left_worse_after_the_last_heal_is_still_degraded():
    tl = partition_then_kill(left_worse=True)
    v = recovery_time(tl, target=45, population="writers")
    assert v.status == FAIL and v.details["degraded"] is True
    own = [r for r in tl.probes("writers") if 21.0 <= r["t"] < 26.0]
    assert v.details["after_heal_requests"] == len(own)
    assert v.details["after_heal_availability"] == sum(r["ok"] for r in own) / len(own)
    assert "from the end of the heal of kill of pg/pg-1 (9.0 s after it began)" in v.sentence


def test_one_fault_of_several_never_healed_leaves_the_window_after_the_heal_unmeasured():
    tl = partition_then_kill(left_worse=False)
    tl.records[:] = [r for r in tl.records if not (r["kind"] == "fault" and r.get("fault_id") == "f2"
                                                   and r["event"] == "heal")]
    v = recovery_time(tl, target=45, population="writers")
    assert v.details["degraded"] is None
    assert "availability after the heal unmeasured (kill of pg/pg-1 was not healed before the verdict)" in v.sentence
