"""The registry's clerks and newcomers, declared as data (tests/unit/fixtures/shipped_journeys.yaml),
against the real registry: they log in through the central login, read, register moves, and are
attributed to the app replicas that answered — the same figures the code-defined Clerk produces."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from drillkit.clients.declare import parse_users
from drillkit.lab.compose import _Loader
from drillkit.stacks.registry import stored_move_ids

pytestmark = [pytest.mark.lab, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "shipped_journeys.yaml"


@pytest.mark.drill("registry", fault="none", scenario="clerks as data", severity="normal")
def test_clerks_and_newcomers_as_data_work_against_the_registry(drill):
    kinds = parse_users(yaml.load(FIXTURE.read_text(), Loader=_Loader)["users"], file=str(FIXTURE))
    clerks = drill.users(kinds["clerks"], 6, think=0.05)
    drill.users(kinds["newcomers"], 2)
    time.sleep(4)
    drill.stop_traffic()
    tl = drill.timeline
    work = tl.probes("existing-sessions")
    assert clerks.ready == 6 and work
    assert sum(r["ok"] for r in work) / len(work) >= 0.95
    assert {r["session"] for r in work if r["ok"]} == {"valid"}
    assert {r["node"] for r in work} <= {"app-1", "app-2", "app-3", "app-4"}
    assert len({r["node"] for r in work}) >= 2
    logins = tl.probes("new-logins")
    assert {r["client"] for r in logins} >= {f"clerk-{i:03d}" for i in range(1, 7)} | {"clerk-101", "clerk-102"}
    assert all(r["ok"] for r in logins)
    moves = [w["id"] for w in tl.writes() if w["op"] == "move"]
    assert moves and set(moves) <= set(stored_move_ids(drill.env))
