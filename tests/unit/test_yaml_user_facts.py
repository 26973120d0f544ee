"""What docs/scenarios.md and docs/environments.md tell YAML users, pinned to the code that makes it
true (issue 16): where {n} starts and which templates are numbers, the order of what is due at one
instant of the schedule, the signal kill sends and what restart's heal does, which side of a
partition gets its rules, and that a user who had to log in again counts as back."""

from __future__ import annotations

import json
import random
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from drillkit.clients import Client, ClientPool, HttpJourney, Op, Outcome, parse_user_kind
from drillkit.clients.template import parse_template
from drillkit.timeline import Timeline
from drillkit.yamlsrc import load_yaml


# -- templates: {n} starts at 1; one placeholder keeps its type ---------------------------------------
class Counter(Client):
    def __init__(self):
        super().__init__("counter-001")
        self.seen: list[int] = []

    def ops(self, iteration):
        self.seen.append(iteration)
        yield Op("count", "counters")

    def invoke(self, op):
        return Outcome("ok")


def test_n_is_1_in_a_users_first_iteration():
    c = Counter()
    pool = ClientPool(lambda i: c, 1, timeline=Timeline(), think=0.0).start(wait_ready=5)
    end = time.monotonic() + 5
    while len(c.seen) < 3 and time.monotonic() < end:
        time.sleep(0.01)
    pool.stop()
    assert c.seen[:3] == [1, 2, 3]


def test_one_placeholder_is_a_number_a_composite_is_text():
    rng = random.Random(0)
    v = {"i": 1, "n": 1}
    assert parse_template("{n}").render(v, rng) == 1
    assert isinstance(parse_template("{random:1..9}").render(v, rng), int)
    assert parse_template("{i}{n:06d}").render(v, rng) == "1000001"
    assert parse_template("{n:06d}").render(v, rng) == "000001"      # a format spec makes text


# -- the schedule: at one instant, heals, then injections, then runbooks --------------------------------
COMPOSE = """\
x-drillkit:
  stack: facts
services:
  db:
    image: x
    deploy: {replicas: 2}
"""
SCENARIO = """\
scenario: what is due at 10 s
environment: ../environments/facts/compose.yaml
probe: false
faults:
  - {kind: kill, target: {service: db, replica: 1}, at: 0s, for: 10s}
  - {kind: kill, target: {service: db, replica: 2}, at: 10s, for: 2s}
observe: 5s
runbook:
  - {at: 10s, name: after-the-heal, steps: [{sleep: 1s}]}
"""


def test_at_one_instant_the_heal_starts_first_then_injections_then_runbooks(tmp_path):
    from drillkit.scenario.model import load_scenario
    from drillkit.scenario.runner import Schedule
    env = tmp_path / "environments" / "facts" / "compose.yaml"
    env.parent.mkdir(parents=True)
    env.write_text(COMPOSE)
    f = tmp_path / "scenarios" / "at.yaml"
    f.parent.mkdir()
    f.write_text(SCENARIO)
    events = Schedule(load_scenario(f), drill=None)._events()
    at_10 = [(what, getattr(getattr(x, "step", None), "index", getattr(x, "index", None)))
             for at, _, what, x in events if at == 10]
    assert at_10 == [("heal", 0), ("inject", 1), ("runbook", 0)]


def test_heals_and_runbooks_are_started_not_awaited(tmp_path):
    """The schedule starts a heal on a thread of its own and goes on: a runbook due at the same
    instant runs beside a heal that is still waiting for its node."""
    from drillkit.scenario.runner import Schedule
    healing, started = threading.Event(), []

    class SlowHealDrill(SimpleNamespace):
        def heal(self, fault):
            healing.set()
            time.sleep(0.5)
            started.append(("heal done", time.monotonic()))
    sched = Schedule(SimpleNamespace(runbook=()), SlowHealDrill())
    sched._active[(0, 1)] = object()
    occ = SimpleNamespace(step=SimpleNamespace(index=0, kind="kill"), number=1)
    t0 = time.monotonic()
    sched._heal_async(occ)
    assert time.monotonic() - t0 < 0.25, "the schedule waited for the heal"
    assert healing.wait(2)
    sched._healers[0].join()
    assert started and started[0][1] - t0 >= 0.5


# -- process faults: kill's signal, restart's heal ------------------------------------------------------
class Backend:
    def __init__(self):
        self.calls: list[tuple] = []
        self.running = True

    def kill(self, node, signal="SIGKILL"):
        self.calls.append(("kill", signal))
        self.running = False

    def stop_signal(self, node):
        return "SIGTERM"

    def start(self, node):
        self.calls.append(("start",))
        self.running = True

    def state(self, node):
        return SimpleNamespace(running=self.running, paused=False)


def fake_env():
    backend = Backend()
    env = SimpleNamespace(backend=backend, healthy=[])
    env.is_running = lambda node: backend.running
    env.wait_healthy = lambda node, deadline: env.healthy.append(deadline)
    return env


def test_kill_sends_sigkill_and_its_heal_starts_the_node_and_waits_for_health():
    from drillkit.faults.process import Kill
    env, node = fake_env(), SimpleNamespace(name="web-1", service="web")   # a node: its name is recorded
    f = Kill(None)
    f.nodes = [node]
    f._inject(env)
    assert env.backend.calls == [("kill", "SIGKILL")]
    f._heal(env)
    assert env.backend.calls[-1] == ("start",) and env.healthy == [60.0]


def test_restart_restarts_at_injection_and_its_heal_only_waits_for_health():
    from drillkit.faults.process import Restart
    env, node = fake_env(), SimpleNamespace(name="web-1", service="web")   # a node: its name is recorded
    f = Restart(None, grace=1)
    f.nodes = [node]
    f._inject(env)
    assert env.backend.calls == [("kill", "SIGTERM"), ("start",)]      # stop signal; it stopped; started
    f._heal(env)
    assert env.backend.calls == [("kill", "SIGTERM"), ("start",)] and env.healthy == [60.0]   # no second restart
    hard = Restart(None, grace=0)
    hard.nodes = [node]
    env2 = fake_env()
    hard._inject(env2)
    assert env2.backend.calls == [("kill", "SIGKILL"), ("start",)]


# -- partition: the rules go into side A ----------------------------------------------------------------
@pytest.mark.parametrize("direction, chains", [
    ("both", [("OUTPUT", "-d"), ("INPUT", "-s")]),
    ("a-to-b", [("OUTPUT", "-d")]),
    ("b-to-a", [("INPUT", "-s")]),
])
def test_partition_rules_are_planned_for_side_a_only(direction, chains):
    from drillkit.faults.network import Partition, cut_plan
    from drillkit.lab.node import Node
    a, b = Node("facts", "app", 1, "default", "run-app-1", "run"), Node("facts", "db", 1, "default", "run-db-1", "run")
    env = SimpleNamespace(spec=SimpleNamespace(links=[]), run_id="run",
                          backend=SimpleNamespace(labels=lambda n: {"drillkit.run": "run"},
                                                  addresses=lambda n: {"net": "10.0.0.9"}))
    f = Partition(side_a=["app"], side_b=["db"], direction=direction)
    plan = cut_plan(f, env, [a], [b], direction)
    assert list(plan) == [a]
    assert [(r[0], r[1]) for r in plan[a]] == chains
    assert all("10.0.0.9" in r for r in plan[a])
    if direction != "both":
        assert all(r[r.index("--ctdir") + 1] == "ORIGINAL" for r in plan[a])


# -- recovery: a user who had to log in again is back ------------------------------------------------
class Sessions:
    """A service whose sessions can be forgotten all at once (a node-local session store restarted)."""

    def __init__(self):
        self.tokens, self.n = set(), 0
        svc = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                svc.n += 1
                tok = f"t{svc.n}"
                svc.tokens.add(tok)
                self.answer(200, {"token": tok})

            def do_GET(self):
                ok = self.headers.get("Authorization", "").removeprefix("Bearer ") in svc.tokens
                self.answer(200 if ok else 401, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_user_who_had_to_log_in_again_counts_as_back():
    from drillkit.verdicts import recovery_time
    from drillkit.verdicts.sessions import sessions_lost
    svc = Sessions()
    kind = parse_user_kind("clerks", load_yaml(textwrap.dedent("""
        login: {path: /login, body: {user: "{user}"}, token: body.token}
        steps: [{name: read, path: /r}]
    """)), file="t.yaml")
    tl = Timeline()
    pool = ClientPool(lambda i: HttpJourney(kind, kind.client_name(i), i), 1, timeline=tl, base_url=svc.url,
                      think=0.01).start(wait_ready=5)
    try:
        time.sleep(0.2)
        t = tl.now()
        tl.fault("inject", fault="kill", fault_id="f1", targets=["sessions-1"], t=t)
        svc.tokens.clear()                                        # every session is gone
        tl.fault("heal", fault="kill", fault_id="f1", targets=["sessions-1"], t=tl.now())
        time.sleep(0.3)
    finally:
        pool.stop()
        svc.server.shutdown()
    work = [r for r in tl.probes("existing-sessions") if r["t_end"] >= t]
    refused = [r for r in work if r["session"] == "rejected"]
    assert len(refused) == 1 and any(r["t"] > refused[0]["t"] for r in tl.probes("new-logins"))
    v = recovery_time(tl, target=5.0, population="existing-sessions")
    assert v.status == "pass" and v.sentence.startswith("recovery time") and v.details["back"] == 1, v
    assert sessions_lost(tl).value == 1
