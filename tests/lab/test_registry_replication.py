"""The registry's data-path defect switches, in one environment (v2_sessions=incompatible,
replication=async), each shown directly; the sound sides are in test_registry_stack.py.

- v2_sessions=incompatible: after a rolling upgrade of one node to v2, a v1 session is 401 there.
- replication=async: the standby is cut off (paused) while clerks write, the primary dies, the runbook
  promotes the standby: acknowledged writes are missing. (A standby cut off - paused, its WAL sender
  terminated - makes the loss deterministic; with a healthy standby the async window is milliseconds and not reproducible in a
  short test.)
"""

from __future__ import annotations

import time

import pytest
import stack_support as S

P = S.plugin_module("registry")   # the registry's plug-in: the v2 image, upgrade_node, lb helpers
from test_registry_stack import FIGURES, start

from drillkit.faults.process import Pause
from drillkit.stack.target import Target
from drillkit.timeline import Timeline

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def env():
    e = start({"v2_sessions": "incompatible", "replication": "async"})
    try:
        yield e
    finally:
        e.down()
        print("\nregistry replication figures:", FIGURES)


def test_v2_sessions_incompatible_rejects_v1_sessions(env):
    url = env.url()
    P.ensure_app_image(env, "2")
    v1_token = S.login(url, "clerk-040", node="app-1")
    P.upgrade_node(env, 4, "2")
    assert S.call(url, "GET", "/version", node="app-4")[1]["version"] == "2"
    status, _, headers = S.call(url, "GET", "/residents/40", token=v1_token, node="app-4")
    assert (status, headers["x-drillkit-node"]) == (401, "app-4")          # the v1 session is lost there
    assert S.call(url, "GET", "/residents/40", token=v1_token, node="app-1")[0] == 200
    v2_token = S.login(url, "clerk-041", node="app-4")
    assert S.call(url, "GET", "/residents/41", token=v2_token, node="app-4")[0] == 200
    assert S.call(url, "GET", "/residents/41", token=v2_token, node="app-1")[0] == 401   # and back


def test_replication_async_promotion_loses_acknowledged_writes(env):
    url = env.url()
    assert S.replication_status(env)["sync_state"] == "async"
    token = S.login(url, "clerk-042", node="app-1")          # a v1 node (app-4 may run v2 by now)
    tl, pause = Timeline(), Pause(Target("db-replica"))
    pause.inject(env, tl)                                   # the standby falls behind: frozen, and
    S.registry_psql(env, "SELECT pg_terminate_backend(pid) FROM pg_stat_replication", user="postgres")  # cut off
    acked = []
    try:
        for i in range(10):
            status, body, _ = S.call(url, "POST", "/moves", {"resident_id": 600 + i, "new_address": f"Asyncweg {i}"},
                                     token=token, node="app-1", timeout=15)
            assert status == 201, body                       # async: acknowledged without the standby
            acked.append(str(body["id"]))
        lag = S.replication_status(env).get("replay_lag_bytes")
        env.docker.api.kill(env.node("db").container_name, signal="SIGKILL")
    finally:
        env.docker.api.unpause(env.node("db-replica").container_name)
    result = S.promote_replica(env)          # the data runbook; a step that fails raises
    FIGURES["runbook (async)"] = {**result.seconds, "total": result.total}
    stored = set(S.stored_move_ids(env, service="db-replica"))
    missing = [i for i in acked if i not in stored]
    FIGURES["async: acknowledged writes lost of 10"] = len(missing)
    FIGURES["async: standby replay lag before the primary died (bytes)"] = lag
    assert missing, "no acknowledged write lost"
    # the service takes writes again on the new primary (a fresh login: an earlier test in this module
    # may have left nodes whose session format differs; a pooled connection may answer one last 503)
    fresh = S.login(url, "clerk-019", node="app-1")
    for _ in range(20):
        status = S.call(url, "POST", "/moves", {"resident_id": 620, "new_address": "Neu 1"}, token=fresh,
                        node="app-1")[0]
        if status == 201:
            break
        time.sleep(0.5)
    assert status == 201
