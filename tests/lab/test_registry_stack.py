"""The registry stack (environments/registry) realized by drillkit's lab, against the real engine.

Checks the contract drills rely on: login, read, an acknowledged write that exists, a token that works
on every node with shared sessions and only on its own node with node-local sessions, the LB's
disruption notice when every app node is down, and the LB_HEALTH switch reaching HAProxy.

Set DRILLKIT_TEST_RUN_PREFIX to prefix the run id (object names) of these runs.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import pytest

from drillkit import labels as L
from drillkit.errors import DockerUnavailable
from drillkit.lab.compose import load_environment
from drillkit.lab.environment import Environment

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PREFIX = os.environ.get("DRILLKIT_TEST_RUN_PREFIX", "")

# Runs inside an app container: log in on app-<a>, then read with that token on every app node.
CROSS_NODE = """
import json, urllib.request, urllib.error
def call(url, body=None, token=None):
    r = urllib.request.Request(url, data=json.dumps(body).encode() if body else None)
    if token:
        r.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(r, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
status, body = call("http://app-1:8080/login", {"user": "clerk-007", "password": "drill"})
assert status == 200, (status, body)
print(json.dumps({f"app-{n}": call(f"http://app-{n}:8080/residents/3", token=body["token"])[0]
                  for n in (1, 2, 3, 4)}))
"""


def call(url: str, body: dict | None = None, token: str | None = None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def start(switches: dict[str, str]) -> Environment:
    try:
        from drillkit.lab.docker_client import client
        client()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    spec = load_environment("registry", switches)
    return Environment(spec, run_id=PREFIX + L.new_run_id()).up()


@pytest.fixture(scope="module")
def shared():
    env = start({"sessions": "shared", "lb_health": "fast"})
    yield env
    env.down()


def login(env: Environment, user: str = "clerk-001") -> str:
    status, headers, body = call(env.url("/login"), {"user": user, "password": "drill"})
    assert status == 200, body
    assert headers.get("X-Drillkit-Node", "").startswith("app-")
    return json.loads(body)["token"]


def test_login_read_write(shared):
    status, _, body = call(shared.url("/login"), {"user": "clerk-001", "password": "nope"})
    assert status == 401
    status, _, _ = call(shared.url("/login"), {"user": 1})
    assert status == 400
    token = login(shared)
    status, _, body = call(shared.url("/residents/42"), token=token)
    assert status == 200 and json.loads(body)["id"] == 42
    status, _, body = call(shared.url("/residents?q=Müller".replace("ü", "%C3%BC")), token=token)
    assert status == 200 and 0 < json.loads(body)["count"] <= 20
    assert call(shared.url("/residents/42"), token="unknown")[0] == 401
    status, _, body = call(shared.url("/moves"), {"resident_id": 42, "new_address": "Am Markt 1"}, token)
    assert status == 201
    move_id = json.loads(body)["id"]
    status, _, body = call(shared.url(f"/moves/{move_id}"), token=token)
    assert status == 200 and json.loads(body)["resident_id"] == 42
    rows = shared.exec(shared.node("db"), ["psql", "-U", "registry", "-d", "registry", "-Atc",
                                            f"SELECT resident_id FROM moves WHERE id = {move_id}"])
    assert rows.strip() == "42"
    assert call(shared.url("/moves"), {"resident_id": 999999, "new_address": "x"}, token)[0] == 404
    assert call(shared.url("/moves"), {"resident_id": "42"}, token)[0] == 400


def test_shared_sessions_work_on_every_node(shared):
    out = shared.exec(shared.node("app", 1), ["python3", "-c", CROSS_NODE])
    assert json.loads(out.strip().splitlines()[-1]) == {f"app-{n}": 200 for n in (1, 2, 3, 4)}


def test_disruption_notice_when_every_app_node_is_down(shared):
    apps = [shared.node("app", n) for n in (1, 2, 3, 4)]
    try:
        for n in apps:
            shared.container(n).kill()
        deadline = time.monotonic() + 10
        while True:
            status, headers, body = call(shared.url("/residents/1"))
            if status == 503 and headers.get("X-Drillkit-Disruption") == "notice":
                break
            assert time.monotonic() < deadline, (status, body[:200])
            time.sleep(0.2)
        text = body.decode()
        assert "Störung" in text and "Service disruption" in text and "servicedesk@example.invalid" in text
        assert call(shared.url("/lb-health"))[0] == 200
    finally:
        shared.reset()


def test_node_local_sessions_and_slow_health_checks():
    env = start({"sessions": "node-local", "lb_health": "slow"})
    try:
        out = env.exec(env.node("app", 1), ["python3", "-c", CROSS_NODE])
        assert json.loads(out.strip().splitlines()[-1]) == {"app-1": 200, "app-2": 401,
                                                           "app-3": 401, "app-4": 401}
        stat = env.exec(env.node("lb"), ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9999; "
                                         "echo 'show stat' >&3; timeout 1 cat <&3"], check=False)
        header, *rows = [line for line in stat.splitlines() if line.strip()]
        cols = header.lstrip("# ").split(",")
        servers = [dict(zip(cols, r.split(","))) for r in rows]
        app = [s for s in servers if s["svname"].startswith("app-")]
        assert len(app) == 4
        assert {(s["check_rise"], s["check_fall"]) for s in app} == {("2", "10")}
    finally:
        env.down()
