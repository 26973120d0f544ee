"""The cutover fault proven both ways on the smallest stack that shows it (changelab: an old and a new
landscape side by side behind one HAProxy), each figure compared with the test's own count: a
complete copy loses nothing; a copy cut short loses every note the old landscape had acknowledged
(the new database's rows read with psql). rolling_upgrade and schema_migration are proven both ways
by the registry's drills (test_registry_change_drills.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drillkit.drill import DrillFailed
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


def verdict(recs: list[dict], key: str) -> dict:
    return next(r for r in recs if r["kind"] == "verdict" and r["key"] == key)


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
    assert served_after == {"app-new"}           # the entry point leads to the new landscape
    if interrupted:
        assert inject["detail"]["copy_outcome"].startswith("interrupted after 0.5 s")
        # every note the old landscape acknowledged before the freeze is missing on the new one
        assert lost and lost == acked & notes_in(env, "db")
    else:
        assert inject["detail"]["copy_outcome"] == "complete"
        assert not lost and verdict(recs, "sessions_lost")["value"] == len(refused_clients(recs)) == 0
