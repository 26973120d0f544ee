"""User kinds in code (a stack plug-in's ``CodeKind``), found by name like data kinds, and the load
generator's actions from the same contract (``resolve_actions``: a data kind on the generator's event
loop, a code kind on its worker's thread) — against a small service on 127.0.0.1."""

from __future__ import annotations

import json
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from drillkit.clients.kinds import CodeKind
from drillkit.drill import Drill
from drillkit.errors import ConfigError
from drillkit.load import OpenLoop
from drillkit.load.actions import resolve_actions
from drillkit.scenario.model import load_scenario
from drillkit.stack import load_stack
from drillkit.stack.kinds import kind_names, lookup, pool_for
from drillkit.timeline import Timeline
from drillkit.traffic.shapes import Constant

COMPOSE = """\
x-drillkit:
  stack: counter
  entrypoint: {service: web, port: 8000}
  plugin: ./drill_plugin.py:plugin
  users:
    readers:
      login: {path: /login, body: {user: "{user}"}, token: body.token}
      steps: [{path: /read}]
services:
  web: {image: x, ports: ["8000"]}
"""

PLUGIN = '''
from drillkit.clients import Client, CodeKind, Op, Outcome
from drillkit.stack.plugin import StackPlugin


class Bumper(Client):
    """Increments a counter: one write per iteration, its id from the answer."""
    def __init__(self, name, step=1):
        super().__init__(name)
        self.step = step
    def open(self, ctx):
        from drillkit.traffic.http import HttpClient
        self.ctx, self.http = ctx, HttpClient(ctx.url(), timeout=2)
    def ops(self, n):
        yield Op("POST /bump", "bumpers", write=True)
    def invoke(self, op):
        r = self.http.request("POST", "/bump", {"by": self.step})
        return Outcome("ok" if r.ok else "fail", id=(r.body or {}).get("id"), http_status=r.status,
                       ledger="bumps")
    def close(self):
        self.http.close()


def make(i, *, first=1, timeout=2.0):
    return Bumper(f"bumper-{first + i:02d}")


plugin = StackPlugin(name="counter", users={
    "bumpers": CodeKind(make, populations=("bumpers",), ledgers=("bumps",), think=0.01),
    "readers": lambda i: Bumper("shadowed"),      # the data kind of the same name wins
})
'''


class Counter:
    def __init__(self):
        self.n, self.lock, self.logins = 0, threading.Lock(), 0
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

            def do_GET(self):
                self.answer(200 if self.headers.get("Authorization") == "Bearer tok" else 401, {})

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with svc.lock:
                    if self.path == "/login":
                        svc.logins += 1
                        return self.answer(200, {"token": "tok"})
                    svc.n += 1
                    n = svc.n
                self.answer(201, {"id": n})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stack(tmp_path):
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "drill_plugin.py").write_text(textwrap.dedent(PLUGIN))
    return load_stack(tmp_path / "compose.yaml")


@pytest.fixture
def service():
    s = Counter()
    yield s
    s.close()


def fake_env(spec, port: int):
    return SimpleNamespace(spec=spec, url=lambda path="": f"http://127.0.0.1:{port}{path}")


def test_lookup_data_first_then_the_plugin(stack):
    assert kind_names(stack, "users") == ["readers", "bumpers"]
    assert lookup(stack, "readers", "users") is stack.users["readers"]        # data wins over the plug-in
    bumpers = lookup(stack, "bumpers", "users")
    assert isinstance(bumpers, CodeKind) and bumpers.name == "bumpers" and bumpers.writes
    assert lookup(stack, "nobody", "users") is None


def test_a_code_kind_runs_in_a_drill_by_name(stack, service):
    tl = Timeline()
    drill = Drill(fake_env(stack, service.port), tl, allure_steps=False)
    pool = drill.users("bumpers", 3, first=10)
    import time
    time.sleep(0.4)
    drill.stop_traffic()
    assert sorted(c.name for c in pool.clients) == ["bumper-10", "bumper-11", "bumper-12"]
    acked = tl.writes(ledger="bumps", outcome="ok")
    assert acked and len(acked) == service.n                 # every acknowledged bump, by the service's count
    assert {p["population"] for p in tl.probes()} == {"bumpers"}
    with pytest.raises(ConfigError, match=r"no user kind 'nobody'.*have: readers, bumpers"):
        drill.users("nobody", 1)


def test_a_scenario_takes_facts_from_a_code_kind(stack, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(f"scenario: t\nenvironment: {tmp_path / 'compose.yaml'}\nusers: {{bumpers: 2}}\n"
                 "faults: [{kind: kill, target: web}]\nexpect: {availability: {bumpers: 0.9}}\n")
    sc = load_scenario(f)
    (t,) = sc.traffic
    assert t.populations == ("bumpers",) and t.writes and t.count == 2
    f.write_text(f.read_text().replace("availability: {bumpers: 0.9}", "sessions_lost: 0"))
    with pytest.raises(ConfigError, match="no users hold sessions"):
        load_scenario(f)


def test_load_actions_send_what_the_kind_sends(stack, service):
    env = fake_env(stack, service.port)
    tl = Timeline()
    c = OpenLoop(Constant(40, 0.5), resolve_actions("readers", env.spec, timeout=1.0), timeline=tl, env=env,
                 concurrency=4, population="load").run()
    probes = tl.probes("load")
    assert c.requests == len(probes) > 0 and c.ok == sum(p["ok"] for p in probes) and c.never_sent == 0
    assert {p["op"] for p in probes} == {"POST /login", "GET /read"}
    assert service.logins == len({p["client"] for p in probes}) <= 4      # one login per worker, kept
    assert sum(p["op"] == "GET /read" for p in probes) == 20              # every arrival read once
    # a code kind (a blocking Client of the plug-in) runs on its worker's own thread, same records
    bump = OpenLoop(Constant(20, 0.3), resolve_actions("bumpers", env.spec), timeline=tl, env=env,
                    concurrency=2, label="bump").run()
    assert bump.ok == len(tl.writes(ledger="bumps", outcome="ok")) == service.n == 6


def test_load_actions_refuse_an_unknown_kind(stack, service):
    with pytest.raises(ConfigError, match="no user kind or client 'nobody'"):
        resolve_actions("nobody", fake_env(stack, service.port).spec)


def test_a_kind_by_name_takes_the_pool_name_the_drill_gives():
    """drill.users("clerks", 8, name="clerks-before-8"): the kind by name, the pool by its own name."""
    from types import SimpleNamespace

    from drillkit.stack import load_stack
    from drillkit.stack.kinds import pool_for
    from drillkit.timeline import Timeline
    env = SimpleNamespace(spec=load_stack("registry"))
    pool = pool_for("clerks", 2, timeline=Timeline(), env=env, section="users", name="clerks-before-8")
    assert pool.name == "clerks-before-8" and len(pool.clients) == 2
    assert pool_for("clerks", 1, timeline=Timeline(), env=env, section="users").name == "clerks"
