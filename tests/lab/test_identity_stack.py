"""The identity stack (environments/identity) against real containers.

The contract drills rely on — a login is costly (PBKDF2) and yields a token every replica accepts,
PIN resets are acknowledged only when stored, bad input is a 4xx and never a 500; the user kinds of
its Compose file (``logins``, ``pin-requests``) and its declared ground truths against the database
read directly — and incident 6's defect: with the database link slowed (Toxiproxy latency on ``identity-db``) and a surge of new
logins, the sound ``db_pool=timeout`` answers the logins it cannot serve with fast 503s, while
``db_pool=no-timeout`` lets them hang until the clients give up.

Why 300 ms and not 3 s of latency: with 3 s every node's /health (1 s budget) fails, HAProxy takes
all nodes out and both variants answer the disruption notice at once — the pool is no longer what is
measured (tried: timeout 95 × 503 / 5 client timeouts, no-timeout 53 × 503 / 47 timeouts of 100).

Set DRILLKIT_TEST_RUN_PREFIX to prefix the run id (object names) of these runs.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time

import pytest
import stack_support as S
import yaml

from drillkit import labels as L
from drillkit.clients.declare import parse_user_kind
from drillkit.drill import Drill
from drillkit.errors import DockerUnavailable
from drillkit.lab.environment import Environment
from drillkit.lab.links import Toxic
from drillkit.load import OpenLoop
from drillkit.load.actions import resolve_actions
from drillkit.stack import load_stack
from drillkit.stack.kinds import pool_for
from drillkit.timeline import Timeline
from drillkit.traffic.shapes import Constant
from drillkit.verdicts.duplicates import duplicates
from drillkit.verdicts.writes import writes_lost
from drillkit.yamlsrc import load_yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PREFIX = os.environ.get("DRILLKIT_TEST_RUN_PREFIX", "")
LATENCY_MS = 300
NEW_LOGINS, PIN_REQUESTS = "new-logins", "pin-requests"
figures = S.plugin_module("identity", "figures.py")       # wasted_logins: the stack's own figure


def start(switches: dict[str, str]) -> Environment:
    try:
        from drillkit.lab.engine import client
        client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    return Environment(load_stack("identity", switches), run_id=PREFIX + L.new_run_id()).up()


@pytest.fixture(scope="module")
def sound():
    env = start({"db_pool": "timeout"})
    try:
        yield env
    finally:
        env.down()


def raw(env: Environment, method: str, path: str, body: bytes | str | None = None):
    port = int(env.url().rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    t = time.monotonic()
    try:
        data = body.encode() if isinstance(body, str) else body
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
    finally:
        conn.close()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    return resp.status, data, time.monotonic() - t


def login(env: Environment, user: str, password: str = "drill"):
    return raw(env, "POST", "/login", json.dumps({"user": user, "password": password}))


# seen here: 7x on a fast core (10.5 ms vs 1.5 ms), about 20x on the lab machine quiet, 3.6x with the
# suite's other worker and two more test runs beside it (12.1 ms vs 3.4 ms); without the hash: about 1x
LOGIN_COST_RATIO = 2.5


def test_login_costs_a_hash_and_yields_a_token(sound):
    versions, results = [], []
    for i in range(1, 12):         # interleaved: the machine's noise hits both kinds alike
        versions.append(raw(sound, "GET", "/version")[2])
        results.append(login(sound, f"citizen-{i:04d}"))
    assert all(s == 200 for s, _, _ in results), results
    _, body, _ = results[0]
    assert body["user"] == "citizen-0001" and body["kind"] == "citizen" and body["expires_in"] == 3600
    # PBKDF2 with 30,000 iterations: a login costs several times the same machine's cheap request,
    # however fast its cores (a ratio, never a number of milliseconds). The fastest of each kind: a
    # busy machine adds waiting to every request alike, which squeezes a ratio of medians (seen: a
    # median-based check failed with other work on both cores); the fastest is closest to the cost.
    login_s, cheap_s = min(r[2] for r in results), min(versions)
    assert login_s > LOGIN_COST_RATIO * cheap_s, f"login {login_s * 1000:.1f} ms, /version {cheap_s * 1000:.1f} ms"
    nodes = set()
    for _ in range(4):                                   # the token is valid on every replica
        status, who, _ = raw(sound, "GET", f"/tokens/{body['token']}")
        assert status == 200 and who["user"] == "citizen-0001"
    status, clerk, _ = login(sound, "clerk-017")
    assert status == 200 and clerk["kind"] == "clerk"
    nodes |= {r[1]["node"] for r in results}
    assert nodes <= {"app-1", "app-2"}


def test_wrong_password_and_unknown_user_are_401_at_the_same_cost(sound):
    wrong, unknown = [], []
    for _ in range(6):                                   # interleaved: the machine's noise hits both
        wrong.append(login(sound, "citizen-0002", "nope"))
        unknown.append(login(sound, "nobody-here"))
    assert all(s == 401 for s, _, _ in wrong + unknown)
    assert wrong[0][1] == unknown[0][1] == {"error": "invalid user or password"}
    # no user probing by timing: within a factor of 3 of each other on a noisy machine
    w, u = statistics.median(r[2] for r in wrong), statistics.median(r[2] for r in unknown)
    assert u > w / 3 and w > u / 3


BAD = [
    ("POST", "/login", b"", 400), ("POST", "/login", b"{", 400), ("POST", "/login", b"[]", 400),
    ("POST", "/login", b'{"user": "citizen-0001"}', 400), ("POST", "/login", b'{"password": "drill"}', 400),
    ("POST", "/login", b'{"user": 1, "password": "drill"}', 400),
    ("POST", "/login", b'{"user": "citizen-0001", "password": null}', 400),
    ("POST", "/login", b'{"user": "' + b"u" * 200 + b'", "password": "drill"}', 400),
    ("POST", "/login", b"\xff\xfe\x00", 400),
    ("POST", "/pin-reset", b"", 400), ("POST", "/pin-reset", b"{}", 400), ("POST", "/pin-reset", b'{"user": 5}', 400),
    ("POST", "/pin-reset", b'{"user": ""}', 400), ("POST", "/pin-reset", b'"citizen-0001"', 400),
    ("POST", "/pin-reset", b'{"user": "nobody-here"}', 404),
    ("GET", "/tokens/not-a-token", 404), ("GET", "/tokens/%00%01", 404), ("GET", "/tokens/" + "a" * 300, 404),
    ("GET", "/tokens/", 404), ("GET", "/login", 405), ("DELETE", "/pin-reset", 405), ("GET", "/nowhere", 404),
]


def test_bad_input_is_4xx_never_500_and_writes_nothing(sound):
    pins, logins = S.stored_pin_requests(sound), S.login_counts(sound)
    seen = []
    for case in BAD:
        method, path, *rest = case
        body, want = (rest[0], rest[1]) if len(rest) == 2 else (None, rest[0])
        seen.append((method, path, (body or b"")[:30], want, raw(sound, method, path, body)[0]))
    wrong = [s for s in seen if s[3] != s[4]]
    assert not wrong, wrong
    assert S.stored_pin_requests(sound) == pins
    assert S.login_counts(sound) == logins


# A test's own kind, as a scenario may define one: new logins, a fifth of them with a wrong password
# (401 is then the correct answer), and every 3rd iteration a check of the last token (existing sessions).
CHECKERS = """
population: new-logins
user: "checker-{i:02d}"
steps:
  - {name: POST /login, method: POST, path: /login, body: {user: "citizen-{random:1..500:04d}", password: drill},
     expect: [200], save: {tok: body.token}, weight: 4}
  - {name: POST /login (wrong password), method: POST, path: /login, body: {user: "citizen-{random:1..500:04d}", password: wrong},
     expect: [401], weight: 1}
  - {name: "GET /tokens/{t}", path: "/tokens/{tok}", every: 3, population: existing-sessions}
"""


def test_pin_requests_and_logins_ledger(sound):
    tl = Timeline()
    checkers = parse_user_kind("checkers", load_yaml(CHECKERS), file="test")
    pins = pool_for("pin-requests", 3, timeline=tl, env=sound, seed=1, think=0.05, max_duration=3.0)
    logins = pool_for(checkers, 2, timeline=tl, env=sound, seed=2, think=0.05, max_duration=3.0)
    with pins, logins:
        time.sleep(2.5)
    d = Drill(sound, tl, allure_steps=False)
    d.ground_truth("pin-resets")
    d.ground_truth("logins")
    for pop in (PIN_REQUESTS, NEW_LOGINS, "existing-sessions"):
        probes = tl.probes(pop)
        assert probes and all(p["ok"] for p in probes), (pop, [p for p in probes if not p["ok"]][:3])
    acked = [w["id"] for w in tl.writes(ledger="pin-resets", outcome="ok")]
    assert len(acked) >= 5 and all(w["op"] == "pin-reset" for w in tl.writes(ledger="pin-resets"))
    assert set(acked) <= set(S.stored_pin_requests(sound))          # the test's own count
    assert writes_lost(tl, what="pin-resets").status == "pass"
    assert duplicates(tl, "pin-resets").status == "pass"
    assert len(tl.ground_truth("logins")["ids"]) == S.login_counts(sound)["ok"]
    assert figures.wasted_logins(tl) is not None


def surge(env: Environment) -> tuple[dict, dict]:
    """Warm the pools, slow the DB link, fire 20 new logins/s for 5 s (client timeout 4 s)."""
    warm_tl, tl = Timeline(), Timeline()
    OpenLoop(Constant(8, 1.0), resolve_actions("logins", env.spec, timeout=5), timeline=warm_tl, env=env,
             concurrency=8, timeout=5, population="warm").run()
    env.links.add_toxic("identity-db", Toxic("latency", {"latency": LATENCY_MS}, name="slow-db"))
    try:   # the stack's own `logins` kind, one login per arrival (client timeout 4 s)
        counts = OpenLoop(Constant(20, 5.0), resolve_actions("logins", env.spec, timeout=4.0), timeline=tl, env=env,
                          concurrency=64, timeout=4.0, population=NEW_LOGINS).run()
    finally:
        env.links.remove_toxic("identity-db", "slow-db")
    probes = tl.probes(NEW_LOGINS)
    # told: a 503 that reached the client before its 4 s timeout (how fast is the machine's business;
    # that it came at all, instead of the client giving up, is the pool's)
    fast_503 = [p for p in probes if p["status"] == 503]
    hung = [p for p in probes if p["error"] and "timeout" in p["error"]]   # gave up waiting (sent or not)
    statuses: dict[str, int] = {}
    for p in probes:
        key = str(p["status"]) if p["status"] is not None else (p["error"] or "no answer")
        statuses[key] = statuses.get(key, 0) + 1
    out = {"arrivals": counts.arrivals, "ok": counts.ok, "fast_503": len(fast_503), "hung": len(hung),
           "statuses": statuses}
    return out, counts.as_dict()


@pytest.mark.alone   # a surge of PBKDF2 logins: how many hang is the pool's, not a busy machine's
def test_pool_timeout_fails_fast_under_a_slow_db(sound):
    out, summary = surge(sound)
    print("db_pool=timeout:", out, summary)
    assert out["ok"] >= 10                                    # it keeps serving what it can
    assert out["fast_503"] >= 0.3 * out["arrivals"], out      # the rest: told at once (~2 s)
    assert out["hung"] <= 0.2 * out["arrivals"], out          # (a few in the pool pass 4 s)
    # and it recovers by itself once the link is healthy again
    time.sleep(1.0)
    assert login(sound, "citizen-0042")[0] == 200


@pytest.mark.alone
def test_pool_no_timeout_defect_hangs_new_logins():
    env = start({"db_pool": "no-timeout"})
    try:
        out, summary = surge(env)
    finally:
        env.down()
    print("db_pool=no-timeout:", out, summary)
    assert out["hung"] >= 0.5 * out["arrivals"], out          # clients gave up waiting
    assert out["fast_503"] <= 0.05 * out["arrivals"], out     # nobody was told
