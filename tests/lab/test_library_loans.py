"""The worked example examples/library-loans: a stack drillkit does not ship, drilled from YAML alone.

Its scenario passes on the sound stack and fails on the defect (sessions in node memory) with a node
kill; each verdict's figure is compared with the test's own count: clients it saw refused (a 401
after a 200) in the timeline file, and acknowledged loans against the rows of the loans table read
with psql in the database container. The same environment then carries the ready-made PostgreSQL and
Redis clients (x-drillkit.clients) reaching containers of the run on its own network.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from drillkit.drill import DrillFailed
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario

pytestmark = [pytest.mark.lab, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "library-loans"
ENV = str(EXAMPLE / "environments" / "library-loans" / "compose.yaml")
SCENARIO = EXAMPLE / "scenarios" / "library_node_kill.yaml"
READERS = 12


def timeline_records(drill) -> list[dict]:
    return [json.loads(line) for line in Path(drill.timeline.path).read_text().splitlines() if line.strip()]


def refused_clients(records: list[dict]) -> set[str]:
    """Readers that got a 401 after the service had answered them with a 200 (own count, no verdict code)."""
    served, refused = set(), set()
    for r in sorted((r for r in records if r["kind"] == "probe" and r["population"] == "existing-sessions"),
                    key=lambda r: r["t"]):
        if r["status"] == 200 or r["status"] == 201:
            served.add(r["client"])
        elif r["status"] == 401 and r["client"] in served:
            refused.add(r["client"])
    return refused


def rows(drill, query: str) -> list[str]:
    out = drill.env.exec(drill.env.node("db"), ["psql", "-h", "127.0.0.1", "-U", "library", "-d", "library",
                                                "-Atc", query])
    return [line for line in out.splitlines() if line.strip()]


def check_loans(drill, records: list[dict]) -> int:
    """Every acknowledged loan is a row of the loans table; returns how many were acknowledged."""
    acked = [r["id"] for r in records if r["kind"] == "write" and r.get("ledger") == "loans"
             and r.get("outcome", "ok") == "ok"]
    held = set(rows(drill, "SELECT id FROM loans"))
    assert acked, "no loan was acknowledged"
    assert set(acked) <= held, f"acknowledged loans missing from the table: {sorted(set(acked) - held)[:10]}"
    return len(acked)


def verdict(records: list[dict], name: str) -> dict:
    return next(r for r in records if r["kind"] == "verdict" and r["name"] == name)


@pytest.mark.drill(ENV, fault="kill", scenario="library node kill (sound)", severity="critical")
def test_sound_library_keeps_sessions_and_loans(drill):
    run_scenario(load_scenario(SCENARIO), drill)
    records = timeline_records(drill)
    assert verdict(records, "sessions lost")["value"] == len(refused_clients(records)) == 0
    rec = verdict(records, "recovery time")
    assert rec["status"] == "pass"
    # answers were attributed to replicas through the example's own header and mapping
    nodes = {r["node"] for r in records if r["kind"] == "probe" and r["node"]}
    assert nodes == {"app-1", "app-2", "app-3"}, nodes
    check_loans(drill, records)


@pytest.mark.drill(ENV, switches={"sessions": "node-memory"}, fault="kill",
                   scenario="library node kill (sessions in node memory)", severity="critical")
def test_sessions_in_node_memory_are_lost_with_the_node(drill):
    with pytest.raises(DrillFailed, match=rf"sessions lost: (\d+) of {READERS} \(expected 0\)") as e:
        run_scenario(load_scenario(SCENARIO), drill)
    lost = int(re.search(rf"sessions lost: (\d+) of {READERS}", str(e.value)).group(1))
    records = timeline_records(drill)
    own = refused_clients(records)
    assert lost == len(own) == verdict(records, "sessions lost")["value"]
    assert 1 <= lost < READERS            # the killed node's share of the readers
    check_loans(drill, records)


@pytest.mark.drill(ENV, fault="pause", scenario="PostgreSQL and Redis clients", severity="normal")
def test_postgres_and_redis_clients_reach_the_run_and_report_unknown_writes(drill):
    from drillkit.faults.base import Target
    from drillkit.faults.process import Pause

    env = drill.env
    shelvers = drill.clients("shelvers", 3, think=0.05, timeout=0.5)
    counters = drill.clients("counters", 2, think=0.05)
    time.sleep(1.5)
    pause = drill.inject(Pause(Target("db")))
    time.sleep(1.5)                        # writes sent now time out: unknown, not failed, not lost
    drill.heal(pause)
    time.sleep(1.5)
    drill.stop_traffic()

    tl = drill.timeline
    writes = [w for w in tl.writes() if w["ledger"] == "loans"]
    acked = [w["id"] for w in writes if w.get("outcome", "ok") == "ok"]
    unknown = [w for w in writes if w.get("outcome") == "unknown"]
    held = set(rows(drill, "SELECT id FROM loans WHERE reader LIKE 'shelvers-%'"))
    assert acked and set(acked) <= held
    assert unknown and all(w["id"] is None for w in unknown)       # RETURNING ids: the server's to assign
    assert {p["error"] for p in tl.probes("shelvers") if not p["ok"]} >= {"timeout"}
    # every unknown write either landed or not; none was acknowledged twice
    assert len(held) >= len(acked) and len(set(acked)) == len(acked)
    assert shelvers.counts["unknown_writes"] == len(unknown)

    # Redis: the last acknowledged INCR of each counter is the value Redis holds (read with redis-cli)
    for c in counters.clients:
        replies = [int(w["id"]) for w in tl.writes() if w["client"] == c.name]
        held_value = env.exec(env.node("sessions"), ["redis-cli", "GET", f"loans:{c.name}"]).strip()
        assert replies == list(range(1, len(replies) + 1)) and int(held_value) == replies[-1]
    # both clients went to container addresses of this run (no published ports): 127.0.0.1 was not used
    assert not any(k[0] in ("db", "sessions") for k in env.published)
