"""HTTP journeys declared as data, walked against a small stdlib service on 127.0.0.1."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from drillkit.clients import ClientPool, HttpJourney, parse_user_kind
from drillkit.timeline import Timeline
from drillkit.yamlsrc import load_yaml


class Service:
    def __init__(self):
        self.tokens, self.revoked, self.empty, self.slow = set(), False, False, 0.0
        self.n, self.lock, self.logins = 0, threading.Lock(), 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("X-Node", "web2")
                self.end_headers()
                self.wfile.write(raw)

            def authorized(self):
                tok = self.headers.get("Authorization", "").removeprefix("Bearer ")
                return tok in service.tokens and not service.revoked

            def do_GET(self):
                if self.path == "/list":
                    return self.answer(200, {"items": [] if service.empty else [{"id": 4}, {"id": 5}]})
                if not self.authorized():
                    return self.answer(401, {"error": "no session"})
                self.answer(200, {"path": self.path})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with service.lock:
                    service.n += 1
                    n = service.n
                if self.path == "/login":
                    service.logins += 1
                    tok = f"tok-{body['user']}-{n}"
                    service.tokens.add(tok)
                    return self.answer(200, {"token": tok})
                if self.path.endswith("/loans"):
                    return self.answer(201, {"loan": f"L{n}", "item": int(self.path.split("/")[2])})
                if not self.authorized():
                    return self.answer(401, {"error": "no session"})
                if service.slow:
                    time.sleep(service.slow)
                self.answer(201, {"id": n, "echo": body})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None   # clients that gave up (timeouts) are expected
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    s = Service()
    yield s
    s.close()


def kind(text, name="clerks"):
    return parse_user_kind(name, load_yaml(text), file="t.yaml")


CLERKS = """
user: "clerk-{i:03d}"
login: {path: /login, body: {user: "{user}"}, token: body.token}
session: {rejected: [401]}
node: {header: X-Node, map: {'web(\\d+)': 'app-\\1'}}
steps:
  - {name: read, path: "/r/{random:1..9}"}
  - {name: write, every: 2, method: POST, path: /w, body: {n: "{n}", by: "{user}"},
     write: {id: body.id, op: move, attrs: {n: body.echo.n}}}
"""


def pool(k, url, count=2, **kw):
    return ClientPool(lambda i: HttpJourney(k, k.client_name(i), i), count, timeline=Timeline(), base_url=url,
                      think=kw.pop("think", 0.01), **kw)


def test_login_then_weighted_steps_with_sessions_writes_and_nodes(service):
    p = pool(kind(CLERKS), service.url).start(wait_ready=5)
    time.sleep(0.4)
    p.stop()
    tl = p.timeline
    logins = tl.probes("new-logins")
    work = tl.probes("existing-sessions")
    assert {r["client"] for r in logins} == {"clerk-001", "clerk-002"} and all(r["ok"] for r in logins)
    assert len(logins) == 2                     # logged in once, then worked on the session
    assert work and all(r["ok"] and r["session"] == "valid" and r["node"] == "app-2" for r in work)
    by_client = {}
    for r in work:
        by_client.setdefault(r["client"], []).append(r["op"])
    for ops in by_client.values():             # every 2nd iteration writes, the others read
        assert ops[1::2] == ["write"] * len(ops[1::2]) and set(ops[0::2]) == {"read"}
    writes = tl.writes()
    assert writes and all(w["op"] == "move" and w["ledger"] == "writes" for w in writes)
    assert all(isinstance(w["n"], int) for w in writes)
    assert len({w["id"] for w in writes}) == len(writes)


def test_a_refused_session_is_a_session_lost_then_the_user_logs_in_again(service):
    p = pool(kind(CLERKS), service.url, count=1).start(wait_ready=5)
    time.sleep(0.2)
    service.revoked = True
    time.sleep(0.2)
    service.revoked = False
    time.sleep(0.3)
    p.stop()
    work = p.timeline.probes("existing-sessions")
    rejected = [r for r in work if r["session"] == "rejected"]
    assert len(rejected) >= 1 and all(r["status"] == 401 and not r["ok"] for r in rejected)
    first = rejected[0]["t"]
    assert any(r["t"] > first for r in p.timeline.probes("new-logins"))   # logged in again
    assert work[-1]["ok"] and work[-1]["session"] == "valid"


SEQUENCE = """
population: readers
sequence:
  - {name: list, path: /list, save: {item: "body.items[random].id"}}
  - name: lend
    method: POST
    path: /items/{item}/loans
    body: {reader: "{user}"}
    write: {id: body.loan, ledger: loans, attrs: {item: "var:item"}}
"""


def test_a_sequence_uses_saved_values_and_stops_when_an_answer_lacks_them(service):
    p = pool(kind(SEQUENCE, "readers"), service.url, count=1).start(wait_ready=5)
    time.sleep(0.3)
    service.empty = True
    time.sleep(0.1)
    n_writes = len(p.timeline.writes())
    time.sleep(0.3)
    p.stop()
    tl = p.timeline
    assert [r["op"] for r in tl.probes("readers")[:4]] == ["list", "lend", "list", "lend"]
    writes = tl.writes()
    assert writes and all(w["ledger"] == "loans" and w["item"] in (4, 5) for w in writes)
    assert len(writes) <= n_writes + 1          # no loan without an item to lend
    last = [r["op"] for r in tl.probes("readers")][-3:]
    assert last == ["list"] * 3


def test_new_logins_log_in_every_iteration(service):
    k = kind("""
login: {path: /login, body: {user: "{user}"}, token: body.token, every_iteration: true}
sequence: [{path: /r/1}]
""", "newcomers")
    p = pool(k, service.url, count=1).start(wait_ready=5)
    time.sleep(0.3)
    p.stop()
    probes = p.timeline.probes()
    assert {r["population"] for r in probes} == {"new-logins"}
    logins = [r for r in probes if r["op"] == "POST /login"]
    assert len(logins) >= 3 and len(logins) == service.logins
    assert all(r["session"] == "none" for r in probes)


def test_a_write_without_an_answer_is_unknown_and_a_refused_connection_is_a_failure(service):
    k = kind("""
timeout: 200ms
login: {path: /login, body: {user: "{user}"}, token: body.token}
steps: [{method: POST, path: /w, write: {id: body.id}}]
""")
    service.slow = 1.0
    p = pool(k, service.url, count=1).start(wait_ready=5)
    time.sleep(0.5)
    p.stop()
    writes = p.timeline.writes()
    assert writes and all(w.get("outcome") == "unknown" and w["id"] is None for w in writes)
    assert all(r["error"] == "timeout" for r in p.timeline.probes("existing-sessions"))

    service.close()
    k2 = kind("sequence: [{method: POST, path: /w, write: {id: body.id}}]", "anon")
    p2 = pool(k2, service.url, count=1).start(wait_ready=5)
    time.sleep(0.2)
    p2.stop()
    probes = p2.timeline.probes()
    assert probes and all(r["error"] == "ConnectionRefusedError" for r in probes)
    assert p2.timeline.writes() == []           # never sent: nothing may have happened
