"""The stack contract against real containers (doorlab: a PostgreSQL pair, Redis, a JSON listing, a
psql client behind a Toxiproxy link): ground-truth readers of every kind, runbook steps of every kind
timed on the timeline, a role that moves on failover, and a fault's heal overridden in YAML (the
killed primary comes back as a replica of the promoted one, never a second primary).

Every figure a reader returns is compared with the test's own count, read directly from the service.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml
from lab_support import HERE

from drillkit.drill import Drill
from drillkit.faults import kinds as fault_kinds
from drillkit.faults.process import Kill
from drillkit.lab.environment import Environment
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario
from drillkit.stack import load_stack
from drillkit.stack.roles import resolve_role, role_nodes
from drillkit.stack.runbook import Runbook, RunbookFailed, parse_steps, run_runbook
from drillkit.stack.target import Target
from drillkit.timeline import Timeline
from drillkit.yamlsrc import load_yaml

pytestmark = [pytest.mark.lab]

DOORLAB = HERE / "environments" / "doorlab" / "compose.yaml"
FIGURES: dict = {}


@pytest.fixture(scope="module")
def env():
    e = Environment(load_stack(DOORLAB))
    try:
        e.up()
        yield e
    finally:
        e.down()
        print("\nstack contract figures:", FIGURES)


def sql(env, node, query: str, user: str = "registry") -> list[str]:
    out = env.exec(node, ["psql", "-h", "127.0.0.1", "-U", user, "-d", "registry", "-Atc", query])
    return [line for line in out.splitlines() if line.strip()]


def steps(env, text: str):
    raw = load_yaml(text)
    return parse_steps(raw, "test-steps.yaml", 1, "steps", env.spec, {}, base_dir=DOORLAB.parent)


def wait_for(predicate, deadline: float = 30.0, what: str = "condition"):
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not true after {deadline:g} s")
        time.sleep(0.2)


def bookings_table(env) -> None:
    primary = resolve_role(env, "primary")
    sql(env, primary, "CREATE TABLE IF NOT EXISTS bookings (id int PRIMARY KEY, slot text); "
                      "INSERT INTO bookings SELECT g, 's' || (g % 3) FROM generate_series(1, 25) g "
                      "ON CONFLICT DO NOTHING")


def test_readers_of_every_kind_match_independent_counts(env):
    bookings_table(env)
    tl = Timeline()
    drill = Drill(env, tl, allure_steps=False)
    pg1 = env.node("pg", 1)

    rows = [line.split("|") for line in sql(env, pg1, "SELECT id, slot FROM bookings ORDER BY id")]
    gt = drill.ground_truth("bookings")                                   # sql, on: {role: primary}
    assert (gt.ids, gt.columns["slot"], gt.source) == ([r[0] for r in rows], [r[1] for r in rows], "sql on pg-1")

    env.exec(env.node("cache"), ["redis-cli", "MSET", "session:a1", "1", "session:b2", "1", "draft:x", "1"])
    assert sorted(drill.ground_truth("sessions").ids) == ["a1", "b2"]   # redis, match picks the id

    listing = drill.ground_truth("listing")                               # http on the entry point
    import json
    import urllib.request
    with urllib.request.urlopen(env.url("/items.json"), timeout=5) as r:
        items = json.load(r)["items"]
    assert listing.ids == [str(i["id"]) for i in items] and listing.columns["slot"] == [i["slot"] for i in items]

    files = env.exec(env.node("web"), ["sh", "-c", "ls /srv/ids | wc -l"]).strip()
    assert len(drill.ground_truth("files").ids) == int(files) == 3       # exec, one id a line

    assert drill.ground_truth("computed").ids == [r[0] for r in rows]    # python hook, relative path

    recs = [r for r in tl.records if r["kind"] == "ground-truth"]
    assert [r["what"] for r in recs] == ["bookings", "sessions", "listing", "files", "computed"]
    assert recs[0]["slot"] == [r[1] for r in rows] and recs[0]["detail"]["count"] == 25
    FIGURES["reader seconds"] = {r["what"]: r["detail"]["seconds"] for r in recs}


def test_runbook_steps_of_every_kind_are_timed_and_a_failure_is_one_sentence(env):
    tl = Timeline()
    book = Runbook("bench", steps(env, r"""
- name: primary-check
  exec: {on: {role: primary}, command: psql -h 127.0.0.1 -U postgres -Atc "SELECT pg_is_in_recovery()", expect_output: "^f$"}
- name: pin-link
  link: {name: client-pg, upstream: "pg-1:5432"}
- name: through-link
  exec:
    on: client
    command: PGPASSWORD=registry psql -h pg -U registry -d registry -Atc "SELECT pg_is_in_recovery()"
    expect_output: "^f$"
- name: stop-cache
  stop: {service: cache, grace: 1s}
- name: cache-gone
  wait_until: {on: web, command: "! python3 -c 'import socket; socket.create_connection((\"cache\", 6379), 1)'", deadline: 20s, interval: 200ms}
- name: start-cache
  start: cache
- name: kill-cache
  kill: cache
- name: cache-back
  start: {service: cache, deadline: 30s}
- name: listing
  wait_until: {http: {path: /items.json, contains: slot}, deadline: 10s}
- name: pause
  sleep: 200ms
- name: hook
  python: {call: ./readers.py:note, args: {text: bench}}
"""))
    result = run_runbook(env, tl, book)
    names = [s.name for s in book.steps]
    assert list(result.seconds) == names
    recs = [r for r in tl.records if r["kind"] == "runbook"]
    assert [(r["step"], r["event"]) for r in recs] == [(n, e) for n in names for e in ("start", "end")]
    for start, end in zip(recs[::2], recs[1::2]):
        assert end["t"] >= start["t"] and end["seconds"] >= 0
    assert result.seconds["pause"] >= 0.2
    assert env.is_running(env.node("cache"))
    assert any(r["kind"] == "note" and r["text"].startswith("bench: ") for r in tl.records)
    assert result.details["cache-back"].startswith("started cache")
    FIGURES["bench steps (s)"] = result.seconds

    bad = Runbook("broken", steps(env, """
- name: fine
  exec: {on: web, command: "true"}
- name: wrong-exit
  exec: {on: web, command: "echo nope; exit 3"}
- name: never
  sleep: 1s
"""))
    with pytest.raises(RunbookFailed) as info:
        run_runbook(env, tl, bad)
    msg = str(info.value)
    assert msg.startswith("runbook broken: step wrong-exit failed after") and "exit 3: nope" in msg
    assert "\n" not in msg
    last = [r for r in tl.records if r["kind"] == "runbook"][-1]
    assert (last["step"], last["event"]) == ("wrong-exit", "failed")
    with pytest.raises(RunbookFailed, match=r"step slow failed .*still not true after 1 s"):
        run_runbook(env, tl, Runbook("deadline", steps(env, """
- name: slow
  wait_until: {on: web, command: "false", deadline: 1s, interval: 200ms}
""")))


def test_a_link_whose_update_does_not_answer_is_recreated_under_its_name_with_its_toxics(env):
    """The fallback for Toxiproxy 2.12's wedged update, forced: an update that does not answer in
    time (a timeout far below any answer) and no settling time left."""
    from drillkit.lab.links import Toxic
    from drillkit.stack.runbook import repoint_link
    env.links.add_toxic("client-pg", Toxic("latency", {"latency": 30}, name="slow"))
    # Toxiproxy frozen for 3 s: the update cannot answer within its 0.5 s (a tiny timeout alone is
    # no proof: a fast machine answers within the millisecond a socket timeout rounds up to)
    proxy_box = env.docker.containers.get(f"{env._prefix()}-toxiproxy-1")
    proxy_box.pause()
    thaw = threading.Timer(3.0, proxy_box.unpause)
    thaw.start()
    try:
        how = repoint_link(env, "client-pg", "pg-1:5432", timeout=0.5, settle=0)
        thaw.join()
        assert "recreated under the same name" in how, how
        proxy = env.links.proxy("client-pg")
        assert (proxy["upstream"], proxy["enabled"]) == ("pg-1:5432", True)
        assert [t["name"] for t in env.links.toxics("client-pg")] == ["slow"]
        out = env.exec(env.node("client"), ["sh", "-c", "PGPASSWORD=registry psql -h pg -U registry -d registry "
                                                        "-Atc 'SELECT pg_is_in_recovery()'"])
        assert out.strip() == "f"
    finally:
        thaw.join()
        proxy_box.reload()
        if proxy_box.status == "paused":
            proxy_box.unpause()
        env.links.remove_toxic("client-pg", "slow")
    FIGURES["forced link recreation"] = how


def test_a_dial_to_a_just_killed_node_is_bounded_so_a_repoint_answers_within_seconds(env):
    """What wedged the registry's repoint: Toxiproxy dials an upstream killed a moment ago (its address
    still in the neighbour cache, SYNs unanswered) without a timeout, and an update of that link waits
    for the dial. The lab bounds the dial (tcp_syn_retries=2: ~7 s; measured ~39 s without)."""
    from drillkit.lab.links import LinkServer
    cache, client = env.node("cache"), env.node("client")
    nets = env.docker.api.inspect_container(cache.container_name)["NetworkSettings"]["Networks"]
    ip = nets[env.network_name("default")]["IPAddress"]
    env.links.set_upstream("client-pg", f"{ip}:6379")
    try:
        pong = env.exec(client, ["bash", "-c", "exec 3<>/dev/tcp/pg/5432; printf 'PING\\r\\n' >&3; timeout 2 head -c 7 <&3"])
        assert "PONG" in pong                                   # Toxiproxy talked to cache: a fresh neighbour entry
        env.docker.api.kill(cache.container_name)
        eof: list[float] = []

        def dial() -> None:                                     # accepted at once; closed when the dial gives up
            t = time.monotonic()
            env.exec(client, ["bash", "-c", "exec 3<>/dev/tcp/pg/5432; timeout 200 cat <&3"], check=False)
            eof.append(time.monotonic() - t)
        th = threading.Thread(target=dial, daemon=True)
        th.start()
        time.sleep(1)
        t0 = time.monotonic()
        LinkServer(env.links.host, env.links.port, timeout=120).set_upstream("client-pg", "pg-1:5432")
        update = time.monotonic() - t0
        th.join(120)
    finally:
        env.links.set_upstream("client-pg", "pg-1:5432")
        run_runbook(env, Timeline(), Runbook("back", steps(env, "- start: cache")))
    FIGURES["dial to a just-killed node, update behind it (s)"] = (round(eof[0], 1), round(update, 1))
    assert eof and eof[0] < 20 and update < 20                  # without the bound: the dial takes ~39 s


def test_heal_none_leaves_the_node_down(env):
    tl = Timeline()
    kill = Kill(Target("cache"), heal="none")
    kill.inject(env, tl)
    kill.heal(env, tl)
    assert not env.is_running(env.node("cache"))
    heal = [r for r in tl.records if r["kind"] == "fault" and r["event"] == "heal"][-1]
    assert heal["detail"]["heal"] == "none"
    run_runbook(env, tl, Runbook("back", steps(env, "- start: cache")))
    assert env.is_running(env.node("cache"))


SCENARIO = """
scenario: doorlab primary lost, the standby promoted, the old primary back as its replica
environment: {environment}
probe: false
faults:
  - kind: kill
    target: {{role: primary}}
    at: 0s
    for: 8s
    heal: follow-primary
runbook:
  - after: faults[0]
    name: promote
    steps:
      - name: promote
        exec:
          on: {{service: pg, replica: 2}}
          command: psql -h 127.0.0.1 -U postgres -Atc "SELECT pg_promote(true, 30)"
          expect_output: "^t$"
      - name: primary-moved
        wait_until: {{on: {{role: primary}}, command: "true", deadline: 30s, interval: 100ms}}
      - name: repoint
        link: {{name: client-pg, upstream: "pg-2:5432"}}
observe: 8s
ground_truth:
  rows: {{kind: sql, on: {{role: primary}}, query: SELECT id FROM bookings ORDER BY id, user: registry,
          database: registry, host: 127.0.0.1}}
"""


def test_failover_moves_the_role_and_the_yaml_heal_starts_the_old_primary_as_a_replica(env, tmp_path):
    bookings_table(env)
    pg1, pg2 = env.node("pg", 1), env.node("pg", 2)
    assert role_nodes(env, "primary") == [pg1]
    wait_for(lambda: sql(env, pg1, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                         user="postgres") == ["1"], what="pg-2 streaming")
    before = sql(env, pg1, "SELECT id FROM bookings ORDER BY id")
    wait_for(lambda: sql(env, pg2, "SELECT count(*) FROM bookings") == [str(len(before))], what="standby caught up")

    # a client keeps connecting through the link while the primary dies (what can wedge Toxiproxy's update)
    stop = threading.Event()
    attempts: list[int] = []

    def connect() -> None:
        client = env.node("client")
        while not stop.is_set() and len(attempts) < 400:
            attempts.append(env.exec(client, ["sh", "-c", "PGPASSWORD=registry psql -h pg -U registry -d registry "
                                              "-Atc 'SELECT 1' >/dev/null 2>&1; echo $?"], check=False).strip() == "0")
            time.sleep(0.1)
    th = threading.Thread(target=connect, daemon=True)
    th.start()
    path = tmp_path / "failover.yaml"
    path.write_text(SCENARIO.format(environment=DOORLAB), encoding="utf-8")
    tl = Timeline()
    try:
        run_scenario(load_scenario(path), Drill(env, tl, allure_steps=False))
    finally:
        stop.set()
        th.join(30)

    # the role moved, and there is exactly one primary: the old one is a streaming replica of it
    assert role_nodes(env, "primary") == [pg2]
    assert Target(None, role="primary").resolve(env) == [pg2]           # fault targets follow the role
    assert env.is_running(pg1) and sql(env, pg1, "SELECT pg_is_in_recovery()") == ["t"]
    sql(env, pg2, "INSERT INTO bookings VALUES (500, 'after') ON CONFLICT DO NOTHING")
    wait_for(lambda: "500" in sql(env, pg1, "SELECT id FROM bookings WHERE id = 500"), what="replicated to pg-1")

    # the timeline: the kill, the promotion after it, the heal by runbook, every step timed
    faults = [r for r in tl.records if r["kind"] == "fault"]
    assert [(r["event"], r["targets"]) for r in faults] == [("inject", ["doorlab/pg-1"]), ("heal", ["doorlab/pg-1"])]
    assert faults[1]["detail"]["heal"] == "runbook follow-primary"
    rb = [r for r in tl.records if r["kind"] == "runbook"]
    ends = {(r["runbook"], r["step"]): r["seconds"] for r in rb if r["event"] == "end"}
    assert set(ends) == {("promote", s) for s in ("promote", "primary-moved", "repoint")} | \
        {("follow-primary", s) for s in ("primary-known", "follow", "start-as-replica", "streaming")}
    assert not [r for r in rb if r["event"] == "failed"]
    assert min(r["t"] for r in rb if r["runbook"] == "promote") >= faults[0]["t"]
    # a runbook heal is stamped when the runbook has run (its time is part of the recovery);
    # runbook_started says when it began
    follow = [r for r in rb if r["runbook"] == "follow-primary"]
    assert faults[0]["t"] <= faults[1]["detail"]["runbook_started"] <= min(r["t"] for r in follow)
    assert max(r["t"] for r in follow) <= faults[1]["t"]

    # the link kept its name and now leads to pg-2: writes continue through it, and faults on it work
    proxy = env.links.proxy("client-pg")
    assert (proxy["upstream"], proxy["enabled"]) == ("pg-2:5432", True)
    client = env.node("client")
    write = ["sh", "-c", "PGPASSWORD=registry psql -h pg -U registry -d registry -qAtc "
                         "\"INSERT INTO bookings VALUES (501, 'link') ON CONFLICT (id) DO UPDATE SET slot = 'link' RETURNING id\""]
    assert env.exec(client, write).strip() == "501"
    down = fault_kinds.create("link_down", link="client-pg")
    down.inject(env, tl)
    try:
        assert env.exec(client, ["sh", "-c", "PGPASSWORD=registry psql -h pg -U registry -d registry "
                                             "-Atc 'SELECT 1' 2>&1; echo rc=$?"], check=False).strip().endswith("rc=2")
    finally:
        down.heal(env, tl)
    assert env.exec(client, write).strip() == "501"

    # the scenario's reader reads from the new primary; every row written before the kill is there
    gt = [r for r in tl.records if r["kind"] == "ground-truth"]
    assert gt == []                        # no expect: nothing read by the runner
    rows = Drill(env, tl, allure_steps=False)
    rows.readers.update(load_scenario(path).ground_truth)
    read = rows.ground_truth("rows")
    assert read.source == "sql on pg-2" and set(before) <= set(read.ids)
    assert read.ids == sql(env, pg2, "SELECT id FROM bookings ORDER BY id")
    FIGURES["failover runbook steps (s)"] = ends
    FIGURES["link repoint"] = [r["detail"] for r in rb if r["step"] == "repoint" and r["event"] == "end"]
    FIGURES["client connects during the drill (ok/all)"] = f"{sum(attempts)}/{len(attempts)}"
