"""The registry's change drills proven both ways, each figure compared with the test's own count.

- scenarios/registry_rolling_upgrade.yaml (SCENARIOS.md, incident 4): v1 -> v2 node by node while
  form clerks are mid-form keeps every session and draft; a v2 that cannot read v1 sessions (the
  setting of the switch ``v2_sessions: incompatible``, given to the v2 containers) is caught: the
  sessions lost are the clerks the test itself saw refused (a 401 after a 2xx in the timeline file).

- drills/test_registry_landscape_migration.py (SCENARIOS.md, incident 1, 11 April 2019): the
  migration carrying the old pools over keeps config parity and both populations through the morning
  load; carrying a test landscape's pools over (``POOL`` and ``LOGIN_POOL`` small) is named by
  config_parity before the load, and the load finds it as the source did: new logins failed while the
  logged-in clerks stayed available but slow (the contrast verdict). The drifted values are the test's
  own reading of each node's environment; the failed logins and the clerks' availability are the
  test's own count of the timeline's probes in the morning.

- scenarios/registry_schema_migration.yaml: the migration that fails halfway in a transaction is
  rolled back by the database: no acknowledged move lost (the primary's rows read with psql), the
  schema as before, availability during the migration reported; the same migration statement by
  statement (``transaction: false``) leaves NOT NULL on a column v1 does not fill: every move fails
  until the down migration, caught by availability during the migration — still no move lost.

One environment for the module (the defects come with the change, not with the stack), so the
registry starts once.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from lab_support import CpuHogs
from stack_support import registry_psql, stored_move_ids

from drillkit.drill import DrillFailed
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import run_scenario

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ROLLING = ROOT / "scenarios" / "registry_rolling_upgrade.yaml"
MIGRATION = ROOT / "drills" / "test_registry_landscape_migration.py"
SCHEMA = ROOT / "scenarios" / "registry_schema_migration.yaml"
SOURCE = "SCENARIOS.md incident 4"
FIGURES: dict[str, object] = {}


def records(drill) -> list[dict]:
    return [json.loads(line) for line in Path(drill.timeline.path).read_text().splitlines() if line.strip()]


def refused_clients(recs: list[dict]) -> set[str]:
    """Users that got a 401 after the service had served them (own count, from HTTP statuses alone)."""
    served, refused = set(), set()
    for r in sorted((r for r in recs if r["kind"] == "probe" and r["population"] == "existing-sessions"),
                    key=lambda r: r["t"]):
        if r["status"] in (200, 201):
            served.add(r["client"])
        elif r["status"] == 401 and r["client"] in served:
            refused.add(r["client"])
    return refused


def drafts_gone(recs: list[dict]) -> int:
    """Form requests answered 404/410 on a draft, or 409 on a submit that did not succeed (own count,
    from HTTP statuses alone)."""
    return sum(1 for r in recs if r["kind"] == "probe" and r["population"] == "existing-sessions" and not r["ok"]
               and (r["status"] in (404, 410) or (r["status"] == 409 and r["op"].endswith("/submit"))))


def acknowledged(recs: list[dict]) -> set[str]:
    return {str(r["id"]) for r in recs if r["kind"] == "write" and r.get("outcome", "ok") == "ok"}


def verdict(recs: list[dict], key: str) -> dict:
    """The verdict of ``key``; for availability the one of the fault (inject to recover), not the steady state's."""
    return next(r for r in recs if r["kind"] == "verdict" and r["key"] == key
                and (key != "availability" or "(inject to recover)" in r["sentence"]))


def upgraded(recs: list[dict]) -> list[str]:
    """The nodes the rolling upgrade replaced by v2, in order (its steps on the timeline)."""
    return [r["step"].split()[0] for r in recs if r["kind"] == "runbook" and r["event"] == "end"
            and r["step"].endswith(" upgrade")]


def versions(env) -> dict[str, str]:
    """Each app node's APP_VERSION as its process sees it (own reading, not the fault's)."""
    return {n.name: env.exec(n, ["sh", "-c", "cat /proc/1/environ | tr '\\0' '\\n' | sed -n 's/^APP_VERSION=//p'"]).strip()
            for n in env.nodes["app"]}


@pytest.mark.drill("registry", fault="rolling_upgrade", scenario="rolling upgrade v1 -> v2 (sound)",
                   severity="critical", source=SOURCE)
def test_rolling_upgrade_keeps_sessions_and_drafts(drill):
    run_scenario(load_scenario(ROLLING), drill)
    recs = records(drill)
    assert upgraded(recs) == ["app-1", "app-2", "app-3", "app-4"]
    assert set(versions(drill.env).values()) == {"1"}                   # healed: v1 everywhere again
    own_refused, own_drafts = refused_clients(recs), drafts_gone(recs)
    FIGURES["compatible"] = {k: verdict(recs, k)["value"] for k in ("sessions_lost", "drafts_lost", "writes_lost",
                                                                      "availability")}
    assert verdict(recs, "sessions_lost")["value"] == len(own_refused) == 0
    assert verdict(recs, "drafts_lost")["value"] == own_drafts == 0
    acked = acknowledged(recs)
    assert acked and acked <= set(stored_move_ids(drill.env))          # every submitted form is a move
    forms = [r for r in recs if r["kind"] == "probe" and r["population"] == "existing-sessions" and r["ok"]]
    assert len({r["node"] for r in forms}) >= 4                         # clerks were served by v1 and v2 nodes


@pytest.mark.drill("registry", fault="rolling_upgrade", scenario="rolling upgrade v1 -> v2 (v2 refuses v1 sessions)",
                   severity="critical", source=SOURCE)
def test_rolling_upgrade_to_a_v2_that_refuses_v1_sessions_is_caught(drill, tmp_path):
    text = ROLLING.read_text(encoding="utf-8")
    text = text.replace("    build_args: {APP_VERSION: \"2\"}\n",
                        "    build_args: {APP_VERSION: \"2\"}\n    environment: {V2_SESSIONS: incompatible}\n")
    assert "V2_SESSIONS" in text
    path = tmp_path / "rolling_incompatible.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DrillFailed, match=r"sessions lost: [1-9]\d* of 12 \(expected 0\)") as failed:
        run_scenario(load_scenario(path), drill)
    recs = records(drill)
    own = refused_clients(recs)
    FIGURES["incompatible"] = {k: verdict(recs, k)["value"] for k in ("sessions_lost", "drafts_lost", "writes_lost",
                                                                        "availability")}
    FIGURES["incompatible sentence"] = re.sub(r"\s+", " ", str(failed.value))[:300]
    assert verdict(recs, "sessions_lost")["value"] == len(own) >= 1
    assert verdict(recs, "writes_lost")["value"] == 0                  # a refused form is not a lost move
    assert acknowledged(recs) <= set(stored_move_ids(drill.env))
    assert set(versions(drill.env).values()) == {"1"}
    print("\nregistry change drill figures:", json.dumps(FIGURES, default=str))


# -- the 11 April 2019 landscape migration ------------------------------------------------------------
def migration_drill():
    spec = importlib.util.spec_from_file_location("registry_landscape_migration", MIGRATION)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pools(env) -> dict[str, list[str]]:
    """Each app node's POOL and LOGIN_POOL as its process sees them (own reading, not testinfra's)."""
    return {n.name: env.exec(n, ["sh", "-c", "cat /proc/1/environ | tr '\\0' '\\n' | sed -n 's/^\\(LOGIN_\\)\\{0,1\\}POOL=//p'"]
                             ).split()
            for n in env.nodes["app"]}


def morning(recs: list[dict], population: str) -> tuple[int, int]:
    """(requests, failed) of ``population`` sent in the morning (the phase observe): own count."""
    s = next(r["t"] for r in recs if r["kind"] == "phase" and r["phase"] == "observe" and r["event"] == "start")
    e = next(r["t"] for r in recs if r["kind"] == "phase" and r["phase"] == "observe" and r["event"] == "end")
    sent = [r for r in recs if r["kind"] == "probe" and r["population"] == population and s <= r["t"] < e]
    return len(sent), sum(1 for r in sent if not r["ok"])


def verdict_named(recs: list[dict], name: str) -> dict:
    return next(r for r in recs if r["kind"] == "verdict" and r["name"] == name)


def own_slowdown(recs: list[dict]) -> float:
    """Median of the logged-in clerks' answered requests in the morning after the migration / in the same
    morning before it (the phase reference, on the old landscape): own count."""
    def p50(phase: str) -> float:
        s = next(r["t"] for r in recs if r["kind"] == "phase" and r["phase"] == phase and r["event"] == "start")
        e = next(r["t"] for r in recs if r["kind"] == "phase" and r["phase"] == phase and r["event"] == "end")
        lat = sorted(r["latency"] for r in recs if r["kind"] == "probe" and r["population"] == "existing-sessions"
                     and r["ok"] and s <= r["t"] < e)
        return lat[min(len(lat) - 1, int(round(0.5 * (len(lat) - 1))))]
    return p50("observe") / p50("reference")


def config_verdict_before_morning(recs: list[dict]) -> dict:
    """The parity finding was there before the morning load began (its note precedes the phase)."""
    morning = next(r["t"] for r in recs if r["kind"] == "phase" and r["phase"] == "observe" and r["event"] == "start")
    note = next(r for r in recs if r["kind"] == "note" and r["text"].startswith("before the morning load: "))
    assert note["t"] <= morning
    return note


BUSY = 4   # CPU hogs beside the drill on this 2-core machine: load average +4, as on a shared CI runner
# The hogs are the busy machine, and the tests that bring them run alone: on the CI runner (a submission's run) the
# sound morning with its hogs ran beside the booking drill's start and 20 citizens, and both failed at
# once — HAProxy's 1 s health checks timed out on both stacks (the booking steady state: 52 requests in
# 2 s instead of ~600, 19 % refused; the registry morning: both populations down for 6.5 s). Load beside
# a drill is bounded here, as the brief asks of loads; two stacks and four hogs on two cores were not.


def quiet_ratio(recs: list[dict]) -> float:
    """The old design's figure, for the record: the morning's p95 against the quiet steady state."""
    def p95(phase: str) -> float:
        s = next(r["t"] for r in recs if r["kind"] == "phase" and r["phase"] == phase and r["event"] == "start")
        e = next(r["t"] for r in recs if r["kind"] == "phase" and r["phase"] == phase and r["event"] == "end")
        lat = sorted(r["latency"] for r in recs if r["kind"] == "probe" and r["population"] == "existing-sessions"
                     and r["ok"] and s <= r["t"] < e)
        return lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    return round(p95("observe") / p95("steady"), 2)


@pytest.mark.drill("registry", fault="landscape migration", scenario="11 April 2019 migration (config carried over)",
                   severity="critical", source="SCENARIOS.md incident 1")
# quiet: the long tier (the busy run proves the same verdicts, the harder way; the quiet one is the
# figure for the record)
@pytest.mark.parametrize("beside", [pytest.param("quiet", marks=pytest.mark.long),
                                    pytest.param("busy", marks=pytest.mark.alone)])
def test_landscape_migration_with_the_old_pool_holds(drill, beside):
    """Sound holds, also with the machine busy beside the drill (the verdicts measure the stack against
    the same morning on the old landscape, not against a quiet moment)."""
    with CpuHogs(BUSY if beside == "busy" else 0):
        verdicts = migration_drill().landscape_migration(drill, "sound")
    recs = records(drill)
    FIGURES[f"11 April sound {beside}: morning / quiet steady state (the old figure)"] = quiet_ratio(recs)
    note = config_verdict_before_morning(recs)
    FIGURES[f"11 April sound {beside}"] = [v.sentence for v in verdicts]
    assert verdicts[0].status == "pass" and "agree" in note["text"], note["text"]
    slow = next(v for v in verdicts if v.name == "slowdown existing-sessions")
    assert slow.status == "pass" and abs(slow.value - own_slowdown(recs)) < 0.05
    assert next(v for v in verdicts if v.name == "reference").status == "pass"
    logins = verdict_named(recs, "availability new-logins (during observe)")
    sent, failed = morning(recs, "new-logins")
    assert logins["status"] == "pass" and logins["details"]["requests"] == sent > 0
    assert logins["details"]["requests"] - logins["details"]["ok"] == failed
    assert not any(r["kind"] == "verdict" and "11 April 2019" in r["sentence"] for r in recs)
    assert all(p == ["sound", "sound"] for p in pools(drill.env).values())


@pytest.mark.drill("registry", fault="landscape migration", scenario="11 April 2019 migration (pool: small drifted in)",
                   severity="critical", source="SCENARIOS.md incident 1")
@pytest.mark.alone   # its own CPU hogs are the busy machine (BUSY)
def test_landscape_migration_with_a_drifted_pool_is_named_before_the_load_finds_it(drill):
    """The defect fails with the machine busy beside the drill: the harder way for the slowdown, since the
    load slows the old landscape's morning (the reference) more than the drifted pool's queue."""
    with CpuHogs(BUSY), pytest.raises(DrillFailed) as failed:
        migration_drill().landscape_migration(drill, "small")
    recs = records(drill)
    FIGURES["11 April small busy: morning / quiet steady state (the old figure)"] = quiet_ratio(recs)
    note = config_verdict_before_morning(recs)
    FIGURES["11 April parity"] = note["text"]
    FIGURES["11 April verdicts"] = [r["sentence"] for r in recs if r["kind"] == "verdict"]
    print("\n11 April drill:", json.dumps({k: v for k, v in FIGURES.items() if k.startswith("11 April")}, indent=1))
    assert "— pool: old sound, new small" in note["text"] and "; login pool: old sound, new small" in note["text"], \
        note["text"]
    parity = verdict(recs, "config_parity")
    assert parity["status"] == "fail" and parity["value"] == 2
    for setting in ("pool", "login pool"):
        assert sorted(parity["details"]["differs"][setting]["new"]["small"]) == ["app-1", "app-2", "app-3", "app-4"]
    assert all(p == ["sound", "sound"] for p in pools(drill.env).values())   # healed: the old configuration back
    assert "config parity" in str(failed.value)
    slow = next(r for r in recs if r["kind"] == "verdict" and r["name"] == "slowdown existing-sessions")
    own = own_slowdown(recs)
    assert slow["status"] == "fail" and abs(slow["value"] - own) < 0.05, (slow, own)
    # the 11 April pattern in the source's words, its figures against the test's own count
    contrast = next(r for r in recs if r["kind"] == "verdict" and r["name"] == "availability contrast")
    FIGURES["11 April contrast"] = contrast["sentence"]
    # Quiet, most new logins fail and the sentence names the pattern; on a busy machine the rush itself
    # is slower (seen: 50.4 % of new logins through, just above the pattern's 50 %): the contrast is
    # then said without the name (the naming is proven on constructed timelines in the unit tests)
    if contrast["details"].get("pattern"):
        # "but slow" against the steady state: on a busy machine the steady state's p95 is high too
        # and the clause is left out (seen with three workers, stop 19); the slowdown verdict above
        # says it against the same morning on the old landscape
        assert re.match(r"new logins failed for \d+\.\d s while existing sessions stayed available \(\d+\.\d%\)"
                        r"(?: but slow \(p95 \d+ ms, \d+\.\d× the \d+ ms before\))? — the pattern of the 11 April "
                        r"2019 outage$", contrast["sentence"]), contrast["sentence"]
        assert contrast["details"]["pattern"] == "11 April 2019"
    else:
        assert re.match(r"new logins fared worse than existing sessions during observe: \d+\.\d% against "
                        r"\d+\.\d% available", contrast["sentence"]), contrast["sentence"]
    assert contrast["status"] == "fail" and contrast["sentence"] in str(failed.value)
    logins = verdict_named(recs, "availability new-logins (during observe)")
    clerks = verdict_named(recs, "availability existing-sessions (during observe)")
    (sent, failed_logins), (clerk_sent, clerk_failed) = morning(recs, "new-logins"), morning(recs, "existing-sessions")
    FIGURES["11 April failed logins (own, verdict)"] = [f"{failed_logins} of {sent}", "{} of {}".format(
        logins["details"]["requests"] - logins["details"]["ok"], logins["details"]["requests"])]
    assert logins["details"]["requests"] == sent and logins["details"]["requests"] - logins["details"]["ok"] == failed_logins
    assert failed_logins > sent / 4        # a large share of new logins failed (most, on a quiet machine)
    assert logins["status"] == "fail" and contrast["details"]["availability"]["new-logins"] == logins["value"]
    assert clerks["details"]["requests"] == clerk_sent and clerks["details"]["ok"] == clerk_sent - clerk_failed
    # the logged-in clerks fared far better than the logins (the contrast); quiet, they stayed available
    # (≥ 95 %, the pattern's own condition) but slow. Busy (4 CPU hogs and the other worker beside),
    # their single pool connection queues too: 91.6 % seen at stop 19 — the drill still fails, on
    # config parity, the slowdown and the logins
    clerks_ratio, logins_ratio = (clerk_sent - clerk_failed) / clerk_sent, (sent - failed_logins) / sent
    assert clerks_ratio - logins_ratio >= 0.3, (clerks_ratio, logins_ratio)
    if contrast["details"].get("pattern"):
        assert clerks["status"] == "pass" and clerks_ratio >= 0.95
    print("\n11 April figures:", json.dumps({k: v for k, v in FIGURES.items() if k.startswith("11 April")}, indent=1))


# -- the failed schema migration -------------------------------------------------------------------
@pytest.mark.drill("registry", fault="schema_migration", scenario="failed schema migration",
                   severity="critical", source="SCENARIOS.md incident 4")
@pytest.mark.parametrize("transaction", [True, False], ids=["in-a-transaction", "statement-by-statement"])
def test_failed_schema_migration_loses_no_move_and_reports_availability(drill, tmp_path, transaction):
    columns = "SELECT column_name FROM information_schema.columns WHERE table_name = 'moves' ORDER BY ordinal_position"
    before = registry_psql(drill.env, columns)
    path = tmp_path / "schema.yaml"
    text = SCHEMA.read_text(encoding="utf-8")
    path.write_text(text if transaction else text.replace("    transaction: true ", "    transaction: false "),
                    encoding="utf-8")
    if transaction:
        run_scenario(load_scenario(path), drill)
    else:
        with pytest.raises(DrillFailed, match=r"existing-sessions: [\d.]+% of \d+ requests succeeded \(inject to recover\)"):
            run_scenario(load_scenario(path), drill)
    recs = records(drill)
    inject = next(r for r in recs if r["kind"] == "fault" and r["event"] == "inject")
    assert inject["detail"]["outcome"] == ("rolled back" if transaction else "partly applied")
    assert registry_psql(drill.env, columns) == before                     # the schema as it was
    acked, stored = acknowledged(recs), set(stored_move_ids(drill.env))
    lost = verdict(recs, "writes_lost")
    assert lost["value"] == len(acked - stored) == 0 and acked
    av = verdict(recs, "availability")
    heal = next(r["t"] for r in recs if r["kind"] == "fault" and r["event"] == "heal")
    since = next(r["t"] for r in recs if r["kind"] == "phase" and r["phase"] == "inject" and r["event"] == "start")
    until = next(r["t"] for r in recs if r["kind"] == "phase" and r["phase"] == "recover" and r["event"] == "end")
    during = [r for r in recs if r["kind"] == "probe" and r["population"] == "existing-sessions"
              and since <= r["t"] <= until]
    own = sum(r["ok"] for r in during) / len(during)
    FIGURES[f"schema migration {transaction=}"] = {
        "writes_lost": lost["value"], "acknowledged": len(acked), "availability_during": av["value"],
        "own_during_fault": round(own, 4), "migration_seconds": inject["detail"]["seconds"], "sentence": av["sentence"]}
    print("\nschema migration drill:", json.dumps(FIGURES[f"schema migration {transaction=}"]))
    assert abs(av["value"] - own) < 0.005                                  # inject to the end of recover
    if transaction:
        assert av["status"] == "pass" and own < 1.0                        # the lock was felt (moves waited)
    else:
        assert av["status"] == "fail"
        failed_moves = [r for r in recs if r["kind"] == "probe" and r["op"] == "POST /moves" and not r["ok"]
                        and inject["t"] <= r["t"] <= heal]
        assert failed_moves and all(r["status"] in (409, 500, 503) for r in failed_moves), \
            {r["status"] for r in failed_moves}                          # answered, refused: the schema
