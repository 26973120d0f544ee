"""The registry's node-level defect switches, all on in one environment, each shown directly:

- pool=small: requests queue for the single DB connection of a node - p95 under 16 concurrent clients
  against the same environment's nodes redeployed with the sound pool (A/B under the same load);
- sessions=node-local: a killed node takes its sessions with it;
- lb_health=slow: the lb keeps a dead node in rotation for more than 10 s;
- ack=before-commit: a node killed right after its acknowledgements loses acknowledged writes.

The sound side of each is in test_registry_stack.py (and the pool A/B here). One environment.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import stack_support as S

P = S.plugin_module("registry")   # the registry's plug-in: the v2 image, upgrade_node, lb helpers
from test_registry_stack import FIGURES, start

from drillkit.faults.process import Kill
from drillkit.lab.links import Toxic
from drillkit.stack.target import Target
from drillkit.timeline import Timeline

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DB_RTT_MS = 15      # production-like database round trip (latency toxic on the app-db link)


@pytest.fixture(scope="module")
def env():
    e = start({"sessions": "node-local", "lb_health": "slow", "ack": "before-commit", "pool": "small"})
    try:
        yield e
    finally:
        e.down()
        print("\nregistry defect figures:", {k: v for k, v in FIGURES.items()})


def test_pool_small_queues_under_concurrent_load(env):
    """app-1/app-2 keep the drifted pool of 1 (the switch); app-3/app-4 are redeployed with the sound
    pool of 8. 16 clients, 4 per node, at the same time: the small-pool nodes' p95 is far higher."""
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda n: P.upgrade_node(env, n, "1", environment={"POOL": "sound"}, drain_s=0.2), (3, 4)))
    url = env.url()
    assert S.call(url, "GET", "/version", node="app-1")[1]["switches"]["pool_size"] == 1
    assert S.call(url, "GET", "/version", node="app-3")[1]["switches"]["pool_size"] == 8
    tokens = {f"app-{n}": S.login(url, f"clerk-02{n}", node=f"app-{n}") for n in (1, 2, 3, 4)}
    env.links.add_toxic("app-db", Toxic("latency", {"latency": DB_RTT_MS, "jitter": 0}, name="db_rtt"))
    try:
        result = S.latency_by_node_group(url, tokens, {"small": {"app-1", "app-2"}, "sound": {"app-3", "app-4"}},
                                         clients=16, duration=6.0)
    finally:
        env.links.remove_toxic("app-db", "db_rtt")
    FIGURES["pool A/B, 16 clients, GET /residents?q="] = result
    small, sound = result["small"], result["sound"]
    assert result["errors"] == 0 and small["n"] > 10 and sound["n"] > 10, result
    assert small["p95_ms"] > 1.8 * sound["p95_ms"], result
    assert small["p50_ms"] > 1.8 * sound["p50_ms"], result


def test_sessions_node_local_die_with_their_node(env):
    url = env.url()
    token = S.login(url, "clerk-030", node="app-2")
    assert S.call(url, "GET", "/residents/5", token=token, node="app-2")[0] == 200
    assert S.call(url, "GET", "/residents/5", token=token, node="app-1")[0] == 401    # only on its node
    tl, kill = Timeline(), Kill(Target("app", replica=2))
    kill.inject(env, tl)
    kill.heal(env, tl)
    deadline = time.monotonic() + 30
    while True:
        status, _, headers = S.call(url, "GET", "/residents/5", token=token, node="app-2")
        if headers.get("x-drillkit-node") == "app-2" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (status, headers.get("x-drillkit-node")) == (401, "app-2")                 # the session is gone


def test_lb_health_slow_keeps_a_dead_node_in_rotation_over_10s(env):
    P.wait_lb_up(env, deadline=60)
    tl, kill = Timeline(), Kill(Target("app", replica=3))
    kill.inject(env, tl)
    t0 = time.monotonic()
    try:
        while not P.lb_servers(env)["app-3"]["status"].startswith(("DOWN", "MAINT")):   # MAINT: DNS hold ran out
            assert time.monotonic() - t0 < 60
            time.sleep(0.5)
        FIGURES["lb slow: dead node out of rotation s"] = round(time.monotonic() - t0, 1)
        assert time.monotonic() - t0 > 10.0
    finally:
        kill.heal(env, tl)


def test_ack_before_commit_loses_acknowledged_writes_on_node_kill(env):
    url = env.url()
    P.wait_lb_up(env, deadline=60)
    token = S.login(url, "clerk-031", node="app-1")
    acked = []
    for i in range(10):
        status, body, headers = S.call(url, "POST", "/moves", {"resident_id": 500 + i, "new_address": f"Ackweg {i}"},
                                       token=token, node="app-1")
        assert status == 201 and headers["x-drillkit-node"] == "app-1"
        acked.append(str(body["id"]))
    tl, kill = Timeline(), Kill(Target("app", replica=1))
    kill.inject(env, tl)                      # right after the last acknowledgement
    try:
        time.sleep(1.5)
        stored = set(S.stored_move_ids(env))
        missing = [i for i in acked if i not in stored]
        FIGURES["ack before-commit: acknowledged writes lost of 10"] = len(missing)
        assert missing, "every acknowledged write was committed"
    finally:
        kill.heal(env, tl)
