"""The open-loop generator's event loop against small services on 127.0.0.1: the awaited HTTP client
answers as the threaded one does, a journey records the same on the loop as on a thread, blocking
clients keep a thread of their own, the file follows within the flush interval, stop ends at once."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_clients_journey import CLERKS, Service, kind  # the journey tests' service and kind

from drillkit.clients import HttpJourney
from drillkit.clients.contract import OK, Client, Op, Outcome
from drillkit.load import Action, OpenLoop
from drillkit.load.actions import resolve_actions
from drillkit.timeline import Timeline
from drillkit.traffic.http import HttpClient
from drillkit.traffic.http_async import AsyncHttpClient
from drillkit.traffic.shapes import Constant


class _Answers(BaseHTTPRequestHandler):
    """One path per way an answer can be framed or fail."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, status, body: bytes, headers=(), length=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        p = self.path
        if p == "/json":
            return self._send(200, b'{"ok": true, "n": 1}', [("Content-Type", "application/json"),
                                                             ("Set-Cookie", "sid=abc; Path=/"),
                                                             ("X-Drillkit-Node", "web-2")])
        if p == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"a": ', b'[1, 2, 3]', b'}'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if p == "/close":
            self.close_connection = True
            return self._send(503, "Störung: bitte später".encode(), [("Connection", "close"),
                                                                     ("Content-Type", "text/plain; charset=utf-8")])
        if p == "/until-close":
            self.close_connection = True
            return self._send(200, b"all of it", [("Connection", "close")], length=False)
        if p == "/slow":
            time.sleep(1.0)
            return self._send(200, b"late")
        if p == "/empty":
            return self._send(204, b"", length=False)
        return self._send(404, b'{"error": "no"}', [("Content-Type", "application/json")])

    def do_POST(self):  # noqa: N802
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        echo = {"body": json.loads(body) if body else None, "cookie": self.headers.get("Cookie"),
                "type": self.headers.get("Content-Type"), "length": n}
        self._send(201, json.dumps(echo).encode(), [("Content-Type", "application/json")])


@pytest.fixture
def answers():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    srv.daemon_threads = True
    srv.handle_error = lambda *a: None      # clients that gave up (timeouts) are expected
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _same(r):
    headers = {k: v for k, v in (r.headers or {}).items() if k not in ("Date", "Server")}
    return (r.status, r.body, r.node, r.error, r.text, headers)


def _both(url, calls, timeout=2.0):
    """The same calls, in order, on one threaded and one awaited client: their answers and cookies."""
    sync = HttpClient(url, timeout=timeout)
    a = [_same(sync.request(*c[0], **c[1])) for c in calls] + [dict(sync.cookies)]
    sync.close()

    async def run():
        client = AsyncHttpClient(url, timeout=timeout)
        out = [_same(await client.request(*c[0], **c[1])) for c in calls] + [dict(client.cookies)]
        client.close()
        return out
    return a, asyncio.run(run())


def test_the_awaited_client_answers_as_the_threaded_one(answers):
    calls = [(("GET", "/json"), {}), (("GET", "/chunked"), {}), (("POST", "/w", {"x": "ü"}), {}),
             (("POST", "/w"), {}), (("GET", "/close"), {}), (("GET", "/json"), {}), (("GET", "/missing"), {}),
             (("GET", "/until-close"), {}), (("GET", "/empty"), {}), (("GET", "/json"), {"headers": {"X-A": "1"}})]
    threaded, awaited = _both(answers, calls)
    assert awaited == threaded
    assert awaited[1][1] == {"a": [1, 2, 3]} and awaited[4][0] == 503 and awaited[-1] == {"sid": "abc"}
    assert json.loads(awaited[2][4])["cookie"] == "sid=abc"        # the session cookie went back


def test_the_awaited_client_fails_as_the_threaded_one(answers):
    threaded, awaited = _both(answers, [(("GET", "/slow"), {"timeout": 0.3})])
    assert awaited == threaded and awaited[0][3] == "timeout"
    with socket.socket() as s:    # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    threaded, awaited = _both(f"http://127.0.0.1:{port}", [(("GET", "/"), {})])
    assert awaited == threaded and awaited[0][3] == "ConnectionRefusedError"


class _SyncJourney(HttpJourney):
    """The same journey with no awaitable invoke: the generator runs it on its worker's thread."""

    ainvoke = None


def _records(tl):
    drop = ("t", "t_end", "latency", "due")
    return [{k: v for k, v in r.items() if k not in drop} for r in tl.records if r["kind"] in ("probe", "write")]


def test_a_journey_records_the_same_on_the_loop_as_on_a_thread():
    """Login, weighted steps with random paths, writes with ids from the answer, node mapping: one
    worker, the same seed — the records are the same, whichever way the requests went."""
    k = kind(CLERKS)
    runs = []
    for make in (lambda i: HttpJourney(k, k.client_name(i), i), lambda i: _SyncJourney(k, k.client_name(i), i)):
        svc = Service()
        try:
            tl = Timeline()
            c = OpenLoop(Constant(20, 1.0), [Action("clerks", make)], timeline=tl, base_url=svc.url,
                         concurrency=1, seed=3).run()
            assert c.never_sent == 0 and c.ok == c.requests
            assert len(tl.writes(outcome="ok")) == svc.n - svc.logins > 0      # the service's own count
            runs.append(_records(tl))
        finally:
            svc.close()
    loop, thread = runs
    assert loop == thread and len(loop) > 20
    assert {r["op"] for r in loop if r["kind"] == "probe"} == {"POST /login", "read", "write"}
    assert {r["node"] for r in loop if r["kind"] == "probe"} == {"app-2"}


class _Counter(Client):
    """A blocking client that notes which threads open, invoke and close it."""

    seen: list = []
    op = Op("count", "counters")

    def open(self, ctx):
        super().open(ctx)
        self.threads = {threading.get_ident()}
        _Counter.seen.append(self)

    def invoke(self, op):
        self.threads.add(threading.get_ident())
        time.sleep(0.02)
        return Outcome(OK)

    def close(self):
        self.threads.add(threading.get_ident())


def test_a_blocking_client_keeps_one_thread_of_its_own():
    _Counter.seen = []
    loop_thread = []
    gen = OpenLoop(Constant(100, 0.5), [Action("count", lambda i: _Counter())], timeline=Timeline(), concurrency=3)
    orig = gen._main

    async def main():
        loop_thread.append(threading.get_ident())
        await orig()
    gen._main = main
    c = gen.run()
    assert c.ok == c.requests and c.requests + c.never_sent == 50 and len(_Counter.seen) == 3
    assert all(len(x.threads) == 1 for x in _Counter.seen)                       # open, invokes, close
    assert len({next(iter(x.threads)) for x in _Counter.seen}) == 3 and loop_thread[0] not in _Counter.seen[0].threads


def test_the_file_follows_within_the_flush_interval(answers, tmp_path):
    path = tmp_path / "t.jsonl"
    tl = Timeline(path)
    hits = kind('steps: [{name: "GET /json", path: /json}]', name="hits")
    gen = OpenLoop(Constant(50, 1.5), resolve_actions(hits), timeline=tl, base_url=answers).start()
    time.sleep(0.8)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    in_memory = [r for r in tl.snapshot() if r["kind"] == "probe" and r["t_end"] < tl.now() - 0.3]
    on_file = {(r["arrival"]) for r in lines if r["kind"] == "probe"}
    assert in_memory and all(r["arrival"] in on_file for r in in_memory)   # nothing older than 0.3 s missing
    gen.join()
    tl.close()
    assert Timeline.load(path).records == json.loads(json.dumps(tl.records))


def test_stop_ends_a_load_on_the_loop_at_once(answers):
    tl = Timeline()
    hits = kind('steps: [{name: "GET /json", path: /json}]', name="hits")
    gen = OpenLoop(Constant(200, 60), resolve_actions(hits), timeline=tl, base_url=answers, concurrency=20).start()
    time.sleep(0.5)
    t = time.monotonic()
    counts = gen.stop()
    assert time.monotonic() - t < 2 and not gen.running and 20 < counts.arrivals < 400
    end = [r for r in tl.records if r["kind"] == "load" and r["event"] == "end"]
    assert len(end) == 1 and end[0]["arrivals"] == counts.arrivals
    probes = tl.probes()
    assert len(probes) == counts.requests and counts.requests + counts.dropped == counts.arrivals
