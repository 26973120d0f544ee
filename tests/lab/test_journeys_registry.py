"""The registry's user kinds as its Compose file declares them (x-drillkit.users: clerks, newcomers; the
plug-in's form-clerks), started by name as a drill does, against the real registry: they log in through
the central login, read, register moves, are attributed to the app replicas that answered, and their
ledger is in the database (read directly by the test, not through the declared reader)."""

from __future__ import annotations

import time

import pytest
import stack_support as S

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.mark.drill("registry", fault="none", scenario="the registry's users, by name", severity="normal")
def test_clerks_newcomers_and_form_clerks_work_against_the_registry(drill):
    clerks = drill.users("clerks", 6, think=0.05)
    drill.users("newcomers", 2)
    forms = drill.users("form-clerks", 2, think=0.05, first=151)   # apart from the newcomers
    time.sleep(4)
    drill.stop_traffic()
    tl = drill.timeline
    work = tl.probes("existing-sessions")
    assert clerks.ready == 6 and forms.ready == 2 and work
    assert sum(r["ok"] for r in work) / len(work) >= 0.95
    assert {r["session"] for r in work if r["ok"]} == {"valid"}
    assert {r["node"] for r in work} <= {"app-1", "app-2", "app-3", "app-4"}
    assert len({r["node"] for r in work}) >= 2
    logins = tl.probes("new-logins")
    assert {r["client"] for r in logins} >= {f"clerk-{i:03d}" for i in range(1, 7)} | {"clerk-101", "clerk-102"}
    assert all(r["ok"] for r in logins)
    assert {r["op"] for r in tl.probes("newcomers")} <= {"GET /residents/{id}", "POST /logout"}
    assert {r["op"] for r in work if r["client"] in ("clerk-151", "clerk-152")} >= {"POST /moves/drafts"}
    moves = [w["id"] for w in tl.writes() if w["op"] in ("move", "move-form")]
    assert moves and set(moves) <= set(S.stored_move_ids(drill.env))
    gt = drill.ground_truth("writes")
    assert gt.ids == S.stored_move_ids(drill.env)
