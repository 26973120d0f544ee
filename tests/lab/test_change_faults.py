"""The change faults proven both ways on the smallest stack that shows them (changelab), each figure
compared with the test's own count: sessions the test saw refused (a 401 after a 200 in the timeline
file), acknowledged notes against the rows psql finds, versions the entry point answers with.

- rolling_upgrade v1 -> v2 with drain/undrain at HAProxy: sessions survive (v2 reads v1 sessions);
  a v2 that refuses v1 sessions is caught (sessions lost = the test's own count).
- schema_migration that fails halfway: in a transaction it is rolled back by the database, nothing
  lost and writes only waited for its lock; without a transaction it leaves the schema half-migrated
  and writes fail until the down migration runs.
- cutover to the new landscape: a complete copy loses nothing; a copy cut short loses every note the
  old landscape had acknowledged (the new database's rows read with psql).
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from drillkit import verdicts as V
from drillkit.drill import DrillFailed
from drillkit.faults.base import Target
from drillkit.faults.change import RollingUpgrade
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ENV = str(Path(__file__).parent / "environments" / "changelab" / "compose.yaml")
WRITERS = 8


def records(drill) -> list[dict]:
    return [json.loads(line) for line in Path(drill.timeline.path).read_text().splitlines() if line.strip()]


def refused_clients(recs: list[dict]) -> set[str]:
    """Users that got a 401 after the service had served them (own count, no verdict code)."""
    served, refused = set(), set()
    for r in sorted((r for r in recs if r["kind"] == "probe" and r["population"] == "existing-sessions"),
                    key=lambda r: r["t"]):
        if r["status"] in (200, 201):
            served.add(r["client"])
        elif r["status"] == 401 and r["client"] in served:
            refused.add(r["client"])
    return refused


def acknowledged(recs: list[dict]) -> set[str]:
    return {r["id"] for r in recs if r["kind"] == "write" and r.get("outcome", "ok") == "ok"}


def notes_in(env, service: str) -> set[str]:
    out = env.exec(env.node(service), ["psql", "-h", "127.0.0.1", "-U", "changelab", "-d", "changelab", "-Atc",
                                       "SELECT id FROM notes"])
    return {line for line in out.splitlines() if line.strip()}


def versions(env, n: int = 12) -> set[str]:
    """The versions the entry point answers with (own requests, not the users')."""
    seen = set()
    for _ in range(n):
        with urllib.request.urlopen(env.url("/version"), timeout=3) as r:
            seen.add(json.loads(r.read())["version"])
    return seen


def verdict(recs: list[dict], key: str) -> dict:
    return next(r for r in recs if r["kind"] == "verdict" and r["key"] == key)


# -- rolling upgrade ----------------------------------------------------------------------------------
@pytest.mark.drill(ENV, fault="rolling_upgrade", scenario="rolling upgrade v1 -> v2 (sessions compatible)",
                   severity="critical", source="SCENARIOS.md incident 4")
def test_rolling_upgrade_keeps_sessions_when_v2_reads_v1_sessions(drill):
    env, tl = drill.env, drill.timeline
    assert versions(env) == {"1"}
    drill.users("writers", WRITERS)
    with drill.phase("steady"):
        drill.wait(1.5)
    up = RollingUpgrade(Target("app"), build_args={"APP_VERSION": "2"}, drain="drain-node",
                        undrain="undrain-node", pace="500ms")
    up.prepare(env)                                   # the v2 image, built before the drill (cached)
    with drill.phase("inject"):
        drill.inject(up)
    assert versions(env) == {"2"}                     # every node answers as v2 now
    with drill.phase("observe"):
        drill.wait(1.5)
    with drill.phase("recover"):
        drill.heal(up)                                # the old version back, node by node
        drill.wait(1.0)
    assert versions(env) == {"1"}
    drill.stop_traffic()
    steps = [(r["step"], r["event"]) for r in tl.of("runbook") if r["runbook"] == f"rolling_upgrade {up.fault_id}"]
    order = [s for s, e in steps if e == "end"]
    assert order[:5] == ["app-1 drain", "app-1 drain-wait", "app-1 upgrade", "app-1 healthy", "app-1 undrain"]
    assert order[5:10] == ["app-2 drain", "app-2 drain-wait", "app-2 upgrade", "app-2 healthy", "app-2 undrain"]
    recs = records(drill)
    lost = V.sessions_lost(tl, population="existing-sessions", expected=0)
    assert lost.value == len(refused_clients(recs)) == 0, lost.sentence
    gt = drill.ground_truth("writes")
    assert acknowledged(recs) and acknowledged(recs) <= set(gt.ids) == notes_in(env, "db")
    assert drill.check(V.writes_lost(tl, expected=0))[0].value == 0
    av = V.availability(tl, population="existing-sessions", minimum=0.97, since=up_start(tl, up))
    assert av.status == "pass", av.sentence       # drained first: users barely notice the replacements


def up_start(tl, fault) -> float:
    return next(r["t"] for r in tl.of("fault") if r["fault_id"] == fault.fault_id and r["event"] == "inject")


ROLLING = """\
scenario: rolling upgrade v1 -> v2 while users work; v2 refuses v1 sessions
source: SCENARIOS.md incident 4 (zero-downtime updates)
environment: {env}
users:
  writers: {writers}
steady_state: {{duration: 1500ms, availability: {{existing-sessions: 0.99}}}}
faults:
  - kind: rolling_upgrade
    target: {{service: app}}
    build_args: {{APP_VERSION: "2"}}
    environment: {{V2_SESSIONS: incompatible}}
    drain: drain-node
    undrain: undrain-node
    pace: 500ms
observe: 1500ms
recover: 1s
expect:
  sessions_lost: 0
  writes_lost: 0
"""


@pytest.mark.drill(ENV, fault="rolling_upgrade", scenario="rolling upgrade v1 -> v2 (v2 refuses v1 sessions)",
                   severity="critical", source="SCENARIOS.md incident 4")
def test_rolling_upgrade_to_a_v2_that_refuses_v1_sessions_is_caught(drill, tmp_path):
    path = tmp_path / "rolling.yaml"
    path.write_text(ROLLING.format(env=ENV, writers=WRITERS), encoding="utf-8")
    with pytest.raises(DrillFailed, match=rf"sessions lost: \d+ of {WRITERS} \(expected 0\)"):
        run_scenario(load_scenario(path), drill)
    recs = records(drill)
    own = refused_clients(recs)
    assert verdict(recs, "sessions_lost")["value"] == len(own) >= 1
    assert verdict(recs, "writes_lost")["value"] == 0
    assert acknowledged(recs) <= notes_in(drill.env, "db")
    assert versions(drill.env) == {"1"}          # healed: the old version back


# -- schema migration ---------------------------------------------------------------------------------
MIGRATION = """\
scenario: schema migration that fails halfway ({how})
source: SCENARIOS.md incident 4 (coupled modules, one changed module breaks the others)
environment: {env}
users:
  writers: {writers}
steady_state: {{duration: 1500ms}}
faults:
  - kind: schema_migration
    target: {{service: db}}
    database: changelab
    statements:
      - ALTER TABLE notes RENAME COLUMN body TO content
      - ALTER TABLE notes ADD COLUMN tag text NOT NULL DEFAULT ''
    hold: 2s
    fail_after: 1
    transaction: {transaction}
    rollback: ["ALTER TABLE notes RENAME COLUMN content TO body"]
    for: 4s
observe: 4s
recover: 1s
expect:
  writes_lost: 0
  availability: {{existing-sessions: 0.9}}
"""


def columns(env) -> list[str]:
    out = env.exec(env.node("db"), ["psql", "-h", "127.0.0.1", "-U", "changelab", "-d", "changelab", "-Atc",
                                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'notes' "
                                    "ORDER BY ordinal_position"])
    return out.split()


def failed_share(recs: list[dict], since: float, until: float) -> float:
    ps = [r for r in recs if r["kind"] == "probe" and r["population"] == "existing-sessions" and since <= r["t"] <= until]
    return sum(1 for r in ps if not r["ok"]) / len(ps)


@pytest.mark.drill(ENV, fault="schema_migration", scenario="failed schema migration, rolled back",
                   severity="critical", source="SCENARIOS.md incident 4")
@pytest.mark.parametrize("transaction", [True, False], ids=["in-a-transaction", "statement-by-statement"])
def test_failed_migration_rolls_back_or_leaves_writes_failing(drill, tmp_path, transaction):
    path = tmp_path / "migration.yaml"
    how = "rolled back by the database" if transaction else "each statement committed"
    path.write_text(MIGRATION.format(env=ENV, writers=WRITERS, how=how, transaction=str(transaction).lower()),
                    encoding="utf-8")
    sc = load_scenario(path)
    if transaction:
        run_scenario(sc, drill)
    else:
        with pytest.raises(DrillFailed, match=r"existing-sessions: [\d.]+% of \d+ requests succeeded \(inject to recover\)"):
            run_scenario(sc, drill)
    recs = records(drill)
    inject = next(r for r in recs if r["kind"] == "fault" and r["event"] == "inject")
    assert inject["detail"]["outcome"] == ("rolled back" if transaction else "partly applied")
    assert columns(drill.env) == ["id", "username", "body", "node", "created_at"]      # healed either way
    assert verdict(recs, "writes_lost")["value"] == 0
    assert acknowledged(recs) <= notes_in(drill.env, "db")
    av = verdict(recs, "availability")
    heal = next(r["t"] for r in recs if r["kind"] == "fault" and r["event"] == "heal")
    own = failed_share(recs, inject["t"], heal)
    if transaction:   # writes waited for the lock (hold 2 s): some timed out, reads went on
        assert av["status"] == "pass" and 0 < own < 0.5
        assert {r["error"] for r in recs if r["kind"] == "probe" and not r["ok"]} == {"timeout"}
    else:             # half-migrated until the rollback: every write failed, fast
        assert av["status"] == "fail" and own > 0.3
        assert any(r["status"] == 503 for r in recs if r["kind"] == "probe" and r["t"] < heal)


# -- cutover ------------------------------------------------------------------------------------------
CUTOVER = """\
scenario: cutover from the old landscape to the new one ({how})
source: SCENARIOS.md incident 1 (a weekend's landscape migration) and 5 (old and new side by side)
environment: {env}
users:
  writers: {writers}
steady_state: {{duration: 2s, availability: {{existing-sessions: 0.99}}}}
faults:
  - kind: cutover
    copy: copy-to-new
    {interrupt}
    switch: to-new
    heal: none                    # the migration stays: the new landscape is production now
observe: 2s
ground_truth:                     # what the new landscape holds is what users have now
  writes: {{kind: sql, on: db-new, database: changelab, user: changelab, host: 127.0.0.1, query: SELECT id FROM notes}}
expect:
  writes_lost: 0
  sessions_lost: 0
"""


@pytest.mark.drill(ENV, fault="cutover", scenario="cutover to the new landscape", severity="critical",
                   source="SCENARIOS.md incident 1")
@pytest.mark.parametrize("interrupted", [False, True], ids=["complete-copy", "copy-cut-short"])
def test_cutover_loses_nothing_unless_the_copy_is_cut_short(drill, tmp_path, interrupted):
    path = tmp_path / "cutover.yaml"
    path.write_text(CUTOVER.format(env=ENV, writers=WRITERS, how="copy cut short" if interrupted else "complete copy",
                                   interrupt="interrupt_copy: 500ms" if interrupted else ""), encoding="utf-8")
    sc = load_scenario(path)
    if interrupted:
        with pytest.raises(DrillFailed, match=r"acknowledged writes lost: [1-9]\d* of \d+"):
            run_scenario(sc, drill)
    else:
        run_scenario(sc, drill)
    env = drill.env
    recs = records(drill)
    acked, held = acknowledged(recs), notes_in(env, "db-new")
    lost = acked - held
    assert verdict(recs, "writes_lost")["value"] == len(lost)
    inject = next(r for r in recs if r["kind"] == "fault" and r["event"] == "inject")
    switched = inject["t"] + inject["detail"]["api_seconds"]
    served_after = {r["node"] for r in recs if r["kind"] == "probe" and r["t"] > switched + 0.5 and r["node"]}
    assert served_after == {"app-new-1"}           # the entry point leads to the new landscape
    if interrupted:
        assert inject["detail"]["copy_outcome"].startswith("interrupted after 0.5 s")
        # every note the old landscape acknowledged before the freeze is missing on the new one
        assert lost and lost == acked & notes_in(env, "db")
    else:
        assert inject["detail"]["copy_outcome"] == "complete"
        assert not lost and verdict(recs, "sessions_lost")["value"] == len(refused_clients(recs)) == 0
