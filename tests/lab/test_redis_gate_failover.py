"""Gates and Redis clients that follow the master, on real containers (tests/lab/environments/redislab:
a Redis master, its replica and one Sentinel, from Debian's redis).

- A gate that holds lets the drill run: both gates of the environment open before the first fault.
- A gate that never holds (switch replica_link=broken: a healthy container, a replica never in sync)
  makes the drill *not judged*: SteadyStateNotMet with the gate, what it saw last and the deadline, and
  not one fault record on the timeline.
- The master dies and Sentinel promotes the replica: the clients that follow the role ``primary`` or
  Sentinel keep writing (to redis-2, every write acknowledged after the failover is there), the client
  pinned to the service's first replica does not — counted from the timeline's own records and read
  back with redis-cli, beside the recovery verdict of each population.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drillkit import verdicts as V
from drillkit.errors import SteadyStateNotMet
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario

pytestmark = [pytest.mark.lab]

ENV = str(Path(__file__).resolve().parent / "environments" / "redislab" / "compose.yaml")
POPULATIONS = ("pinned", "following", "sentinel-following")

FAILOVER = f"""\
scenario: the Redis master dies under writers; Sentinel promotes its replica
environment: {ENV}
clients: {{pinned: 2, following: 2, sentinel-following: 2}}
probe: false
steady_state: {{duration: 2s, availability: {{pinned: 0.99, following: 0.99, sentinel-following: 0.99}}}}
gate: [replica-in-sync, sentinel-sees-replica]
faults:
  - {{kind: kill, target: {{role: primary}}, at: 0s, heal: none}}   # Sentinel's promotion is the recovery
observe: 10s
expect:
  recovery_time: {{population: following, max: 15s}}
"""


def scenario(tmp_path: Path, text: str = FAILOVER):
    f = tmp_path / "redis_failover.yaml"
    f.write_text(text, encoding="utf-8")
    return load_scenario(f)


def records(drill) -> list[dict]:
    return [json.loads(line) for line in Path(drill.timeline.path).read_text().splitlines() if line.strip()]


def held_keys(drill, node) -> set[str]:
    """The keys a Redis node holds, read with redis-cli in its container (not through a reader)."""
    out = drill.env.exec(node, ["redis-cli", "--raw", "--scan", "--pattern", "w:*"])
    return {line.strip() for line in out.splitlines() if line.strip()}


@pytest.mark.drill(ENV, fault="kill", scenario="redis failover: clients that follow the master",
                   severity="critical")
def test_gate_opens_and_clients_that_follow_the_master_write_through_a_failover(drill, tmp_path):
    run_scenario(scenario(tmp_path), drill)
    recs = records(drill)
    inject = next(r for r in recs if r["kind"] == "fault" and r["event"] == "inject")
    assert inject["targets"] == ["redislab/redis-1"], inject

    # (a) the gates held, and only then was anything faulted
    gates = [(r["gate"], r["event"]) for r in recs if r["kind"] == "gate"]
    assert gates == [("replica-in-sync", "start"), ("replica-in-sync", "open"),
                     ("sentinel-sees-replica", "start"), ("sentinel-sees-replica", "open")], gates
    assert max(r["t"] for r in recs if r["kind"] == "gate") <= inject["t"]

    # (c) who kept writing: own counts from the timeline's probe and write records, of requests sent
    # once the kill had returned (one sent while the call was under way may still have been answered)
    t_kill = inject["t"] + inject["detail"]["api_seconds"]
    after = {p: [r for r in recs if r["kind"] == "probe" and r["population"] == p and r["t"] >= t_kill]
             for p in POPULATIONS}
    ok_after = {p: [r for r in rs if r["ok"]] for p, rs in after.items()}
    assert after["pinned"] and not ok_after["pinned"], "the pinned client wrote after its node was killed"
    for p in ("following", "sentinel-following"):
        assert len(ok_after[p]) >= 20, (p, len(ok_after[p]), len(after[p]))
        assert {r["node"] for r in ok_after[p]} == {"redis-2"}, {r["node"] for r in ok_after[p]}
        assert after[p][-1]["ok"], f"{p}: the last write failed"
    # every write a follower got acknowledged after the failover is held by the new master
    followers = {r["client"] for r in recs if r["kind"] == "probe" and r["population"] != "pinned"}
    acked = {r["id"] for r in recs if r["kind"] == "write" and r.get("outcome", "ok") == "ok"
             and r["client"] in followers and r["t"] > t_kill}
    held = held_keys(drill, drill.env.node("redis", 2))
    assert acked and acked <= held, f"{len(acked - held)} of {len(acked)} acknowledged writes missing on redis-2"

    # the verdicts say the same: followers recovered, the pinned client did not
    verdict = {p: V.recovery_time(drill.timeline, target=15.0, population=p) for p in POPULATIONS}
    assert verdict["following"].status == "pass" and verdict["sentinel-following"].status == "pass", verdict
    assert verdict["pinned"].status == "fail" and verdict["pinned"].sentence.startswith("not recovered: 2 of 2 "
                                                                                         "pinned users"), verdict


@pytest.mark.drill(ENV, switches={"replica_link": "broken"}, fault="kill",
                   scenario="redis failover: the replica never in sync", severity="critical")
def test_a_gate_that_never_holds_leaves_the_drill_not_judged_and_nothing_injected(drill, tmp_path):
    sc = scenario(tmp_path, FAILOVER.replace("gate: [replica-in-sync, sentinel-sees-replica]",
                                             "gate: [replica-in-sync]"))
    with pytest.raises(SteadyStateNotMet) as info:
        run_scenario(sc, drill)
    why = info.value.why
    assert why.startswith("gate replica-in-sync did not hold within 10 s ("), why
    assert why.endswith("checks); last seen: redis-2: output 'master_link_status:down' does not match "
                        "'master_link_status:up'"), why
    assert str(info.value).startswith("not judged: steady state not met — no fault injected: gate replica-in-sync")
    recs = records(drill)
    assert not [r for r in recs if r["kind"] == "fault"], "a fault was injected although the gate never held"
    assert [(r["gate"], r["event"]) for r in recs if r["kind"] == "gate"] == [("replica-in-sync", "start"),
                                                                             ("replica-in-sync", "shut")]
    # healthy containers all along: the replica answers, it is just not in sync
    for n in drill.env.nodes["redis"]:
        assert drill.env.exec(n, ["redis-cli", "ping"]).strip() == "PONG"


# -- the PostgreSQL story: "the standby is streaming", asked with SQL (doorlab: a primary and its standby)
DOORLAB = str(Path(__file__).resolve().parent / "environments" / "doorlab" / "compose.yaml")


@pytest.mark.drill(DOORLAB, fault="none", scenario="gate: the standby streams", severity="normal")
def test_an_sql_gate_asks_the_primary_whether_its_standby_streams(drill):
    streaming = {"name": "standby-streaming", "on": {"role": "primary"},
                 "sql": {"query": "SELECT state FROM pg_stat_replication", "host": "127.0.0.1"},
                 "expect_output": "^streaming$", "deadline": "30s", "interval": "200ms"}
    (opened,) = drill.gate(streaming)
    assert opened.detail.startswith("true on pg-1 after "), opened.detail
    never = {**streaming, "name": "two-standbys",
             "sql": {"query": "SELECT count(*) FROM pg_stat_replication", "host": "127.0.0.1"},
             "expect_output": "^2$", "deadline": "5s"}   # room for psql on a busy machine (0.14 s was left once)
    with pytest.raises(SteadyStateNotMet, match=r"gate two-standbys did not hold within 5 s \(\d+ checks\); "
                                                r"last seen: pg-1: output '1' does not match '\^2\$'"):
        drill.gate(never)
