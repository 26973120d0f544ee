"""The worked example examples/patroni: a real HA database (PostgreSQL 15, Patroni 3.0, etcd 3.4 from
Debian's packages) drilled from YAML alone, on the sound stack and on its defect.

The scenario cuts the primary off from its standbys under 4 writers, kills it before the cut heals,
lets Patroni fail over by itself and starts the old primary again (Patroni rewinds it into a standby).
With ``replication=sync`` no acknowledged write is lost; with ``replication=async`` the writes
acknowledged during the cut are. Each figure is compared with the test's own count: acknowledged ids
in the timeline file against the rows read with psql on the node whose PostgreSQL is writable now
(found by asking every node, not through drillkit's roles), and exactly one such node at the end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from drillkit.drill import DrillFailed
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario

pytestmark = [pytest.mark.lab, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "patroni"
ENV = str(EXAMPLE / "environments" / "patroni" / "compose.yaml")
SCENARIO = EXAMPLE / "scenarios" / "patroni_primary_loss.yaml"


def timeline_records(drill) -> list[dict]:
    return [json.loads(line) for line in Path(drill.timeline.path).read_text().splitlines() if line.strip()]


def psql(drill, node, query: str, database: str = "postgres") -> list[str]:
    out = drill.env.exec(node, ["psql", "-U", "postgres", "-d", database, "-Atc", query])
    return [line for line in out.splitlines() if line.strip()]


def cluster_now(drill) -> tuple[object, dict[str, str]]:
    """The one node whose PostgreSQL accepts writes, and every node's state (asked of each node)."""
    state = {}
    for n in drill.env.nodes["pg"]:
        assert drill.env.is_running(n), f"{n.name} is not running at the end"
        in_recovery, = psql(drill, n, "SELECT pg_is_in_recovery()")
        receiver = psql(drill, n, "SELECT status FROM pg_stat_wal_receiver")
        state[n.name] = "primary" if in_recovery == "f" else f"standby ({receiver[0] if receiver else 'not streaming'})"
    primaries = [n for n in drill.env.nodes["pg"] if state[n.name] == "primary"]
    assert len(primaries) == 1, f"not exactly one primary at the end: {state}"
    return primaries[0], state


def own_count(drill, records: list[dict]) -> dict:
    """Acknowledged and unknown writes (timeline file) against the rows the primary holds (psql)."""
    primary, state = cluster_now(drill)
    held = set(psql(drill, primary, "SELECT id FROM writes", database="drill"))
    writes = [r for r in records if r["kind"] == "write"]
    acked = {r["id"]: r["t"] for r in writes if r.get("outcome", "ok") == "ok"}
    unknown = [r["id"] for r in writes if r.get("outcome") == "unknown"]
    assert len(acked) == sum(1 for r in writes if r.get("outcome", "ok") == "ok"), "an id acknowledged twice"
    faults = {r["fault"]: r for r in records if r["kind"] == "fault" and r["event"] == "inject"}
    return {"primary": primary, "state": state, "held": held, "acked": acked,
            "lost": {i: t for i, t in acked.items() if i not in held},
            "unknown_found": sum(1 for i in unknown if i in held),
            "unknown_missing": sum(1 for i in unknown if i not in held),
            "cut": faults["partition"], "kill": faults["kill"]}


def verdict(records: list[dict], key: str) -> dict:
    return next(r for r in records if r["kind"] == "verdict" and r.get("key") == key)


def check_heal(own: dict, records: list[dict]) -> None:
    """The old primary came back as a streaming standby; the heal's role checks passed."""
    old = own["kill"]["targets"][0].split("/")[-1]
    assert own["state"][old] == "standby (streaming)", own["state"]
    assert own["primary"].name != old
    ends = {r["step"]: r for r in records if r["kind"] == "runbook" and r["event"] == "end"}
    assert ends["one-primary"]["detail"].startswith(f"role primary held by {own['primary'].name} ")
    assert set(own["state"]) - {own["primary"].name} == set(
        re.search(r"held by (.+) after", ends["two-standbys"]["detail"]).group(1).split(", "))


@pytest.mark.drill(ENV, fault="partition + kill", scenario="patroni primary loss (synchronous)", severity="critical")
def test_synchronous_mode_loses_no_acknowledged_write(drill):
    run_scenario(load_scenario(SCENARIO), drill)
    records = timeline_records(drill)
    own = own_count(drill, records)
    v = verdict(records, "writes_lost")
    assert v["status"] == "pass" and v["value"] == len(own["lost"]) == 0
    assert v["details"]["acknowledged"] == len(own["acked"]) > 100
    # writes sent while the standbys were cut off waited for them: unknown, never acknowledged
    assert v["details"]["unknown"]["found"] == own["unknown_found"]
    assert v["details"]["unknown"]["missing"] == own["unknown_missing"]
    assert own["unknown_found"] + own["unknown_missing"] >= 1
    check_heal(own, records)


@pytest.mark.drill(ENV, switches={"replication": "async"}, fault="partition + kill",
                   scenario="patroni primary loss (asynchronous)", severity="critical")
def test_asynchronous_failover_loses_the_writes_acknowledged_during_the_cut(drill):
    with pytest.raises(DrillFailed, match=r"acknowledged writes lost: (\d+) of (\d+) \((?:\d+ after the heal; )?expected 0\)") as e:
        run_scenario(load_scenario(SCENARIO), drill)
    lost, acked = map(int, re.search(r"acknowledged writes lost: (\d+) of (\d+)", str(e.value)).groups())
    records = timeline_records(drill)
    own = own_count(drill, records)
    v = verdict(records, "writes_lost")
    assert lost == v["value"] == len(own["lost"]) and acked == len(own["acked"])
    assert lost >= 20, f"only {lost} writes lost: the cut should have held seconds of writes"
    # the window: every lost write was acknowledged while the primary was cut off, before it died
    t_cut, t_kill = own["cut"]["t"], own["kill"]["t"]
    first, last = min(own["lost"].values()), max(own["lost"].values())
    assert t_cut - 0.5 <= first <= last <= t_kill + 1.0, (t_cut, first, last, t_kill)
    assert v["details"]["first_lost_s"] == pytest.approx(first - t_cut, abs=0.01)
    assert v["details"]["last_lost_s"] == pytest.approx(last - t_cut, abs=0.01)
    assert "after the partition began" in v["sentence"]
    assert v["details"]["unknown"]["found"] == own["unknown_found"]
    check_heal(own, records)
