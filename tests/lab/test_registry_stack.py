"""The registry stack with every switch at its sound default, against the real engine.

The API contract drills rely on (login through identity, logout, search, record, the 3-step form,
drafts across nodes, bad input never a 500 and never a write), and the sound side of every defect
switch: a killed node's sessions survive (sessions=shared), the lb drops a dead node within 2 s
(lb_health=fast), acknowledged writes survive a node kill (ack=after-commit), a v2 node reads v1
sessions (v2_sessions=compatible), and - last, it kills the primary - no acknowledged write is lost
when the standby is promoted (replication=sync), with the runbook's steps timed.

One environment for the whole module (~13 containers). Set DRILLKIT_TEST_RUN_PREFIX to prefix run ids.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import stack_support as S

from drillkit import labels as L
from drillkit.errors import DockerUnavailable
from drillkit.faults.process import Kill, Pause
from drillkit.lab.environment import Environment
from drillkit.stack import load_stack
from drillkit.stack.target import Target
from drillkit.timeline import Timeline

P = S.plugin_module("registry")   # the registry's plug-in: the v2 image, upgrade_node, lb helpers

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PREFIX = os.environ.get("DRILLKIT_TEST_RUN_PREFIX", "")
FIGURES: dict = {}     # measured figures, printed at the end of the module (pytest -s)


def start(switches: dict[str, str]) -> Environment:
    """Bring the registry up with `switches`; the caller downs it. The owner label is `keep:` so that
    another session's `gc` on a shared engine (it cannot see this process) leaves it alone; the
    fixture's finally removes it."""
    try:
        from drillkit.lab.engine import client
        client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    env = Environment(load_stack("registry", switches), run_id=PREFIX + L.new_run_id())
    env.owner = f"keep:pytest-{env.run_id}"
    t0 = time.monotonic()
    env.up()
    FIGURES[f"up {switches or 'defaults'} s"] = round(time.monotonic() - t0, 1)
    return env


@pytest.fixture(scope="module")
def env():
    e = start({})
    try:
        yield e
    finally:
        e.down()
        print("\nregistry figures:", FIGURES)


def count(env: Environment, sql: str, service: str = "db") -> str:
    return S.registry_psql(env, sql, service=service)[-1]


def identity_logins(env: Environment, user: str) -> int:
    out = env.exec(env.node("identity-db"), ["psql", "-h", "127.0.0.1", "-U", "identity", "-d", "identity",
                                              "-Atc", f"SELECT count(*) FROM logins WHERE user_name = '{user}' AND ok"])
    return int(out.strip())


# --- API -----------------------------------------------------------------------------------------
def test_login_goes_through_identity_and_logout_ends_the_session(env):
    url = env.url()
    before = identity_logins(env, "clerk-001")
    status, body, headers = S.call(url, "POST", "/login", {"user": "clerk-001", "password": "drill"})
    assert status == 200 and body["user"] == "clerk-001" and body["expires_in"] == 28800
    assert headers["x-drillkit-node"].startswith("app-")
    assert identity_logins(env, "clerk-001") == before + 1          # the costly check ran on identity
    token = body["token"]
    assert S.call(url, "GET", "/residents/42", token=token)[0] == 200
    assert S.call(url, "POST", "/login", {"user": "clerk-001", "password": "nope"})[0] == 401
    assert S.call(url, "POST", "/login", {"user": "citizen-0001", "password": "drill"})[0] == 403
    status, body, _ = S.call(url, "POST", "/logout", token=token)
    assert status == 200 and body["user"] == "clerk-001"
    assert S.call(url, "GET", "/residents/42", token=token)[0] == 401
    assert S.call(url, "POST", "/logout", token=token)[0] == 401


def test_identity_down_new_logins_fail_existing_sessions_work(env):
    """The 11 April 2019 pattern: the login path is cut, users already logged in keep working."""
    url = env.url()
    token = S.login(url, "clerk-002")
    env.links.set_enabled("app-identity", False)
    try:
        t = time.monotonic()
        status, body, _ = S.call(url, "POST", "/login", {"user": "clerk-003", "password": "drill"})
        assert status == 503 and body["error"] == "identity unavailable", body
        assert time.monotonic() - t < 6
        for rid in (1, 2, 3, 4):
            assert S.call(url, "GET", f"/residents/{rid}", token=token)[0] == 200
        assert S.call(url, "POST", "/moves", {"resident_id": 7, "new_address": "Am Markt 2"}, token=token)[0] == 201
    finally:
        env.links.set_enabled("app-identity", True)
    assert S.call(url, "POST", "/login", {"user": "clerk-003", "password": "drill"})[0] == 200


def test_search_read_and_record(env):
    url = env.url()
    token = S.login(url, "clerk-004")
    status, body, _ = S.call(url, "GET", "/residents?q=M%C3%BCller", token=token)
    assert status == 200 and 0 < body["count"] <= 20 and all("Müller" in r["family_name"] for r in body["results"])
    assert S.call(url, "GET", "/residents?q=%25_%5C", token=token)[1]["count"] == 0   # LIKE metacharacters
    status, body, _ = S.call(url, "GET", "/residents/42", token=token)
    assert status == 200 and body["id"] == 42 and set(body) >= {"family_name", "given_name", "address"}
    status, body, headers = S.call(url, "POST", "/moves", {"resident_id": 42, "new_address": "Am Markt 1"},
                                   token=token)
    assert status == 201 and headers["location"] == f"/moves/{body['id']}"
    status, move, _ = S.call(url, "GET", f"/moves/{body['id']}", token=token)
    assert status == 200 and move["resident_id"] == 42 and move["clerk"] == "clerk-004"
    assert count(env, f"SELECT address FROM residents WHERE id = 42") == "Am Markt 1"
    assert S.call(url, "GET", "/residents/42", token=token)[1]["address"] == "Am Markt 1"


def test_three_step_form_with_a_node_switch_between_steps(env):
    """Each step lands on another node (lb cookie): the draft lives in the shared store."""
    url = env.url()
    token = S.login(url, "clerk-005")
    status, body, headers = S.call(url, "POST", "/moves/drafts", token=token, node="app-1")
    assert status == 201 and headers["x-drillkit-node"] == "app-1"
    draft = body["draft_id"]
    steps = [(1, {"resident_id": 77}, "app-2"), (2, {"new_address": "Lindenstraße 9, 10115 Musterstadt"}, "app-3"),
             (3, {"move_date": "2025-04-01", "confirmation": True}, "app-4")]
    for n, fields, node in steps:
        status, body, headers = S.call(url, "PUT", f"/moves/drafts/{draft}/step/{n}", fields, token=token, node=node)
        assert (status, headers["x-drillkit-node"], body["step"]) == (200, node, n), body
    status, body, _ = S.call(url, "GET", f"/moves/drafts/{draft}", token=token, node="app-1")
    assert status == 200 and body["resident_id"] == 77 and body["move_date"] == "2025-04-01"
    moves_before = int(count(env, "SELECT count(*) FROM moves"))
    status, body, _ = S.call(url, "POST", f"/moves/drafts/{draft}/submit", token=token, node="app-1")
    assert status == 201, body
    move_id = body["id"]
    assert int(count(env, "SELECT count(*) FROM moves")) == moves_before + 1
    assert count(env, f"SELECT resident_id || ' ' || new_address FROM moves WHERE id = {move_id}") == \
        "77 Lindenstraße 9, 10115 Musterstadt"
    status, body, _ = S.call(url, "POST", f"/moves/drafts/{draft}/submit", token=token, node="app-2")
    assert status == 409 and body["id"] == move_id                       # once only
    assert S.call(url, "GET", f"/moves/drafts/{draft}", token=token)[1]["submitted_move_id"] == move_id


def test_bad_input_on_every_endpoint_is_a_4xx_and_writes_nothing(env):
    url = env.url()
    token, other = S.login(url, "clerk-006"), S.login(url, "clerk-007")

    def new_draft(*steps):
        d = S.call(url, "POST", "/moves/drafts", token=token)[1]["draft_id"]
        for n, fields in enumerate(steps, 1):
            assert S.call(url, "PUT", f"/moves/drafts/{d}/step/{n}", fields, token=token)[0] == 200
        return d

    s1, s2, s3 = {"resident_id": 5}, {"new_address": "Bergstraße 1"}, {"move_date": "2025-01-02", "confirmation": True}
    d0, d1, d2, done, gone = new_draft(), new_draft(s1), new_draft(s1, s2), new_draft(s1, s2, s3), new_draft(s1)
    assert S.call(url, "POST", f"/moves/drafts/{done}/submit", token=token)[0] == 201
    S.expire_draft(env, gone)

    def snapshot():
        return (count(env, "SELECT count(*) FROM moves"),
                count(env, "SELECT md5(string_agg(id || address || updated_at, ',' ORDER BY id)) FROM residents"),
                S.store_count(env, "session:*"), S.store_count(env, "draft:*"),
                [S.call(url, "GET", f"/moves/drafts/{d}", token=token)[1].get("updated_at") for d in (d0, d1, d2, done)])

    before = snapshot()
    big = b'{"resident_id": 5, "new_address": "' + b"x" * 17000 + b'"}'
    cases = [
        # login
        ("POST", "/login", None, b"not json", None, 400), ("POST", "/login", None, b"[1, 2]", None, 400),
        ("POST", "/login", {"user": 1, "password": "drill"}, None, None, 400),
        ("POST", "/login", {"user": "clerk-001"}, None, None, 400),
        ("POST", "/login", {"user": "x" * 65, "password": "drill"}, None, None, 400),
        ("POST", "/login", {"user": "clerk-001", "password": "wrong"}, None, None, 401),
        ("POST", "/login", {"user": "nobody", "password": "drill"}, None, None, 401),
        ("POST", "/login", {"user": "citizen-0001", "password": "drill"}, None, None, 403),
        ("GET", "/login", None, None, None, 405),
        # logout and authentication
        ("POST", "/logout", None, None, None, 401), ("POST", "/logout", None, None, "unknown", 401),
        ("GET", "/residents/1", None, None, None, 401), ("GET", "/residents/1", None, None, "x" * 200, 401),
        ("GET", "/residents/1", None, None, "bad$token", 401),
        # residents
        ("GET", "/residents/0", None, None, token, 404), ("GET", "/residents/99999999999999999999", None, None, token, 404),
        ("GET", "/residents/abc", None, None, token, 404), ("GET", "/residents", None, None, token, 400),
        ("GET", "/residents?q=", None, None, token, 400), ("GET", "/residents?q=" + "a" * 101, None, None, token, 400),
        ("GET", "/residents?q=%00", None, None, token, 400),
        # moves
        ("POST", "/moves", None, b"{", token, 400), ("POST", "/moves", None, b"", token, 400),
        ("POST", "/moves", {"resident_id": "5", "new_address": "x"}, None, token, 400),
        ("POST", "/moves", {"resident_id": True, "new_address": "x"}, None, token, 400),
        ("POST", "/moves", {"resident_id": 5.5, "new_address": "x"}, None, token, 400),
        ("POST", "/moves", {"resident_id": 5}, None, token, 400),
        ("POST", "/moves", {"resident_id": 5, "new_address": " "}, None, token, 400),
        ("POST", "/moves", {"resident_id": 5, "new_address": "x" * 201}, None, token, 400),
        ("POST", "/moves", {"resident_id": 5, "new_address": "a\u0000b"}, None, token, 400),
        ("POST", "/moves", None, big, token, 400),
        ("POST", "/moves", {"resident_id": 999999, "new_address": "x"}, None, token, 404),
        ("POST", "/moves", {"resident_id": -1, "new_address": "x"}, None, token, 404),
        ("POST", "/moves", {"resident_id": 2**40, "new_address": "x"}, None, token, 404),
        ("GET", "/moves/0", None, None, token, 404), ("GET", "/moves/999999", None, None, token, 404),
        ("DELETE", "/moves", None, None, token, 405), ("PATCH", "/moves/1", None, None, token, 405),
        # drafts
        ("POST", "/moves/drafts", None, None, None, 401), ("GET", "/moves/drafts", None, None, token, 405),
        ("GET", "/moves/drafts/unknown", None, None, token, 404), ("GET", "/moves/drafts/bad!id", None, None, token, 404),
        ("PUT", f"/moves/drafts/unknown/step/1", s1, None, token, 404),
        ("POST", f"/moves/drafts/unknown/submit", None, None, token, 404),
        ("PUT", f"/moves/drafts/{d0}/step/0", s1, None, token, 404),
        ("PUT", f"/moves/drafts/{d0}/step/4", s1, None, token, 404),
        ("PUT", f"/moves/drafts/{d0}/step/2", s2, None, token, 409),
        ("PUT", f"/moves/drafts/{d0}/step/3", s3, None, token, 409),
        ("POST", f"/moves/drafts/{d0}/submit", None, None, token, 409),
        ("PUT", f"/moves/drafts/{d0}/step/1", {"resident_id": "5"}, None, token, 400),
        ("PUT", f"/moves/drafts/{d0}/step/1", {"resident_id": 5, "extra": 1}, None, token, 400),
        ("PUT", f"/moves/drafts/{d0}/step/1", {"resident_id": 999999}, None, token, 404),
        ("PUT", f"/moves/drafts/{d0}/step/1", None, b"nope", token, 400),
        ("PUT", f"/moves/drafts/{d1}/step/3", s3, None, token, 409),
        ("POST", f"/moves/drafts/{d1}/submit", None, None, token, 409),
        ("PUT", f"/moves/drafts/{d1}/step/2", {"new_address": 5}, None, token, 400),
        ("PUT", f"/moves/drafts/{d2}/step/3", {"move_date": "2025-13-01", "confirmation": True}, None, token, 400),
        ("PUT", f"/moves/drafts/{d2}/step/3", {"move_date": "2025-02-30", "confirmation": True}, None, token, 400),
        ("PUT", f"/moves/drafts/{d2}/step/3", {"move_date": "1800-01-01", "confirmation": True}, None, token, 400),
        ("PUT", f"/moves/drafts/{d2}/step/3", {"move_date": "2025-01-01"}, None, token, 400),
        ("PUT", f"/moves/drafts/{d2}/step/3", {"move_date": "2025-01-01", "confirmation": "yes"}, None, token, 400),
        ("POST", f"/moves/drafts/{d2}/submit", None, None, token, 409),
        ("GET", f"/moves/drafts/{d2}", None, None, other, 404),
        ("PUT", f"/moves/drafts/{d2}/step/3", s3, None, other, 404),
        ("POST", f"/moves/drafts/{d2}/submit", None, None, other, 404),
        ("POST", f"/moves/drafts/{done}/submit", None, None, token, 409),
        ("PUT", f"/moves/drafts/{done}/step/1", s1, None, token, 409),
        ("GET", f"/moves/drafts/{gone}", None, None, token, 410),
        ("PUT", f"/moves/drafts/{gone}/step/2", s2, None, token, 410),
        ("POST", f"/moves/drafts/{gone}/submit", None, None, token, 410),
        ("GET", "/nope", None, None, token, 404),
    ]
    wrong = []
    P.wait_lb_up(env)
    for method, path, body, raw, tok, expected in cases:
        for _ in range(3):     # a 503 is the shared lab machine stalling (lb notice / identity), not an answer
            status, answer, _ = S.call(url, method, path, body, raw=raw, token=tok)
            if status != 503 or expected == 503:
                break
            P.wait_lb_up(env)
        if status != expected:
            wrong.append((method, path, str(body or raw)[:40], expected, status, str(answer)[:80]))
    # no Content-Length at all (chunked)
    status = S.call(url, "POST", "/moves", raw=b"", token=token, headers={"Transfer-Encoding": "chunked"})[0]
    if status != 400:
        wrong.append(("POST", "/moves", "chunked", 400, status, ""))
    assert not wrong, "\n".join(map(str, wrong))
    assert snapshot() == before


def test_disruption_notice_when_every_app_node_is_down(env):
    try:
        for n in env.nodes["app"]:
            env.docker.api.kill(n.container_name)
        deadline = time.monotonic() + 10
        while True:
            status, body, headers = S.call(env.url(), "GET", "/residents/1")
            if status == 503 and headers.get("x-drillkit-disruption") == "notice":
                break
            assert time.monotonic() < deadline, (status, str(body)[:200])
            time.sleep(0.2)
        assert "Störung" in body and "Service disruption" in body and "servicedesk@example.invalid" in body
        assert S.call(env.url(), "GET", "/lb-health")[0] == 200
    finally:
        env.reset()


# --- the sound side of each defect switch ----------------------------------------------------------
def test_sessions_shared_survive_a_node_kill(env):
    url = env.url()
    P.wait_lb_up(env)
    token = S.login(url, "clerk-010", node="app-2")
    draft = S.call(url, "POST", "/moves/drafts", token=token, node="app-2")[1]["draft_id"]
    tl, kill = Timeline(), Kill(Target("app", replica=2))
    kill.inject(env, tl)
    try:
        status, _, headers = S.call(url, "GET", "/residents/5", token=token, node="app-2")
        assert status == 200 and headers["x-drillkit-node"] != "app-2"      # another node, same session
        assert S.call(url, "GET", f"/moves/drafts/{draft}", token=token)[0] == 200
    finally:
        kill.heal(env, tl)
    assert S.call(url, "GET", "/residents/5", token=token, node="app-2")[0] == 200


# LB_HEALTH=fast (lb/entrypoint.sh): a check every 250 ms, each given `timeout check 1s`, out after 2
LB_FAST_OUT_S = 2 * (0.25 + 1.0)    # the longest the configuration allows: 2 checks that time out


def test_lb_health_fast_takes_a_dead_node_out_within_its_check_budget(env):
    P.wait_lb_up(env)
    tl, kill = Timeline(), Kill(Target("app", replica=3))
    kill.inject(env, tl)
    t0 = time.monotonic()
    still_in = 0.0   # when the last poll that still saw app-3 in rotation began (s after the kill)
    try:
        while True:
            began = time.monotonic() - t0
            if P.lb_servers(env)["app-3"]["status"].startswith(("DOWN", "MAINT")):   # MAINT: DNS hold ran out
                break
            still_in = began
            assert began < 10, "app-3 still in rotation after 10 s"
            time.sleep(0.1)
        FIGURES["lb fast: dead node out of rotation s"] = round(time.monotonic() - t0, 2)
        # HAProxy's own timers decide this, not the machine: a poll that began after the configured
        # budget must not see the node in rotation (a slow `docker exec` only delays when we look)
        assert still_in < LB_FAST_OUT_S, f"app-3 still in rotation {still_in:.2f} s after the kill"
    finally:
        kill.heal(env, tl)


def test_ack_after_commit_no_acknowledged_write_lost_on_node_kill(env):
    url = env.url()
    P.wait_lb_up(env)
    token = S.login(url, "clerk-011", node="app-1")
    acked = []
    for i in range(10):
        status, body, headers = S.call(url, "POST", "/moves", {"resident_id": 300 + i, "new_address": f"Ackweg {i}"},
                                       token=token, node="app-1")
        assert status == 201 and headers["x-drillkit-node"] == "app-1"
        acked.append(str(body["id"]))
    tl, kill = Timeline(), Kill(Target("app", replica=1))
    kill.inject(env, tl)                      # right after the last acknowledgement
    try:
        time.sleep(1.5)                       # longer than ACK_DELAY: a late commit would have landed
        stored = set(S.stored_move_ids(env))
        assert [i for i in acked if i not in stored] == []
    finally:
        kill.heal(env, tl)


def test_v2_upgrade_reads_v1_sessions_and_migrates_additively(env):
    url = env.url()
    P.ensure_app_image(env, "2")
    v1_token = S.login(url, "clerk-012", node="app-1")
    draft = S.call(url, "POST", "/moves/drafts", token=v1_token, node="app-1")[1]["draft_id"]
    assert S.call(url, "PUT", f"/moves/drafts/{draft}/step/1", {"resident_id": 12}, token=v1_token, node="app-1")[0] == 200
    timings = P.upgrade_node(env, 4, "2")
    FIGURES["upgrade app-4 to v2"] = timings
    status, body, headers = S.call(url, "GET", "/version", node="app-4")
    assert body["version"] == "2" and headers["x-drillkit-node"] == "app-4"
    assert count(env, "SELECT version FROM schema_migrations") == "2"
    # a v1 session and a v1 draft on the v2 node
    status, _, headers = S.call(url, "GET", "/residents/12", token=v1_token, node="app-4")
    assert (status, headers["x-drillkit-node"]) == (200, "app-4")
    for n, fields in ((2, {"new_address": "Neuweg 2"}), (3, {"move_date": "2025-06-01", "confirmation": True})):
        assert S.call(url, "PUT", f"/moves/drafts/{draft}/step/{n}", fields, token=v1_token, node="app-4")[0] == 200
    status, body, _ = S.call(url, "POST", f"/moves/drafts/{draft}/submit", token=v1_token, node="app-4")
    assert status == 201
    assert count(env, f"SELECT move_date FROM moves WHERE id = {body['id']}") == "2025-06-01"
    # a v2 session on a v1 node; v1 writes next to v2 (move_date stays NULL)
    v2_token = S.login(url, "clerk-013", node="app-4")
    status, body, _ = S.call(url, "POST", "/moves", {"resident_id": 13, "new_address": "Altweg 1"}, token=v2_token,
                             node="app-1")
    assert status == 201
    assert count(env, f"SELECT coalesce(move_date::text, 'null') FROM moves WHERE id = {body['id']}") == "null"


def test_form_clerks_keep_drafts_and_sessions_through_a_rolling_upgrade(env):
    """Incident 4: clerks in the middle of the 3-step form while app-3 is upgraded to v2 (app-4 is v2
    already): no draft, no session and no submitted move lost. The form clerks are the registry
    plug-in's code-defined user kind, started by name as a drill would; the upgrade is its
    `upgrade-node` runbook step."""
    from drillkit.stack.kinds import pool_for
    from drillkit.stack.runbook import run_runbook
    tl = Timeline()
    pool = pool_for("form-clerks", 6, timeline=tl, env=env, think=0.2, timeout=5.0, max_duration=120)
    pool.start(wait_ready=30)
    try:
        assert pool.ready == 6, pool.open_errors
        time.sleep(3)
        result = run_runbook(env, tl, _upgrade_steps(env, 3))
        FIGURES["upgrade app-3 to v2 under form clerks"] = result.details
        time.sleep(3)
    finally:
        pool.stop()
    work = tl.probes("existing-sessions")
    assert [p for p in work if p["session"] == P.DRAFT_LOST] == []
    assert [p for p in work if p["session"] == "rejected"] == []
    submitted = [w["id"] for w in tl.writes() if w["op"] == "move-form" and w.get("outcome", "ok") == "ok"]
    assert submitted, "no form was submitted"
    stored = set(S.stored_move_ids(env))
    assert [i for i in submitted if i not in stored] == []


def _upgrade_steps(env, replica: int):
    """`- upgrade-node: {replica: N, version: "2"}` parsed as a runbook of the registry would be."""
    import yaml

    from drillkit.stack.plugin import code_steps
    from drillkit.stack.runbook import parse_steps
    from drillkit.yamlsrc import load_yaml
    raw = load_yaml(f'- upgrade-node: {{replica: {replica}, version: "2"}}')
    return parse_steps(raw, "test", 1, "steps", env.spec, code_steps(env.spec))


def test_replication_sync_promotion_loses_no_acknowledged_write(env):
    """Last in the module: it kills the primary. The standby is cut off (paused) while clerks write:
    with sync replication no write is acknowledged meanwhile (503 after the 5 s deadline); the primary
    dies, the runbook promotes the standby, and every acknowledged move is there."""
    url = env.url()
    assert S.replication_status(env)["sync_state"] == "sync"
    token = S.login(url, "clerk-014")
    acked = []
    for i in range(5):
        status, body, _ = S.call(url, "POST", "/moves", {"resident_id": 400 + i, "new_address": f"Syncweg {i}"}, token=token)
        assert status == 201
        acked.append(str(body["id"]))
    tl, pause = Timeline(), Pause(Target("db-replica"))
    pause.inject(env, tl)
    S.registry_psql(env, "SELECT pg_terminate_backend(pid) FROM pg_stat_replication", user="postgres")  # cut off
    try:
        def write(i):
            return S.call(url, "POST", "/moves", {"resident_id": 410 + i, "new_address": f"Syncweg {i}"},
                          token=token, timeout=15)
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(write, range(4)))
        assert all(status == 503 for status, _, _ in answers), [a[:2] for a in answers]
        env.docker.api.kill(env.node("db").container_name, signal="SIGKILL")
    finally:
        env.docker.api.unpause(env.node("db-replica").container_name)
    result = S.promote_replica(env)          # the data runbook; a step that fails raises
    FIGURES["runbook (sync)"] = {**result.seconds, "total": result.total}
    assert "apps-healthy" in result.seconds and "lb-up" in result.seconds
    stored = set(S.stored_move_ids(env, service="db-replica"))
    assert [i for i in acked if i not in stored] == []
    # a pooled connection to the dead primary may answer one last 503 before the node reconnects:
    # retry as a clerk's client would, for a few seconds
    for _ in range(20):
        status, body, _ = S.call(url, "POST", "/moves", {"resident_id": 420, "new_address": "Nach der Übernahme 1"},
                                 token=token)
        if status == 201:
            break
        time.sleep(0.5)
    assert status == 201 and str(body["id"]) in set(S.stored_move_ids(env, service="db-replica"))
