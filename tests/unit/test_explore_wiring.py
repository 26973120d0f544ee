"""drill explore's wiring, without Docker: the topology read from a stack, the explore: section checked
by the scenario validator (file:line), what a trial's scenario and a written finding say, the CLI's
argument errors, and the reports an exploration writes (summary, Allure, management page)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from drillkit.errors import ConfigError
from drillkit.explore import (Budget, Schedule, load_exploration, parse_budget, topology_of)
from drillkit.explore.section import SECTIONS, base_for
from drillkit.report.explored import explored_tests, write_explored_allure
from drillkit.report.management import build_page
from drillkit.report.summary import DrillResult, write_summary
from drillkit.scenario.model import load_scenario
from drillkit.scenario.validate import validate_file
from drillkit.stack import load_stack

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "environments" / "registry" / "compose.yaml"
LIBRARY = ROOT / "examples" / "library-loans" / "environments" / "library-loans" / "compose.yaml"


def scenario(tmp_path: Path, explore: str, *, extra: str = "", name: str = "x.yaml",
             environment: str | None = None) -> Path:
    env = environment or os.path.relpath(LIBRARY, tmp_path)
    path = tmp_path / name
    path.write_text(f"""scenario: "library: whatever breaks an app node, readers keep their sessions"
environment: {env}
users: {{readers: 4}}
probe: false
steady_state: {{duration: 1s, availability: {{existing-sessions: 0.9}}}}
observe: 1s
recover: 1s
expect:
  sessions_lost: 0
{extra}explore:
{explore}""")
    return path


# -- the topology from a Stack ---------------------------------------------------------------------------
def test_topology_of_the_registry_has_replicas_zones_net_admin_links_and_the_role_heal():
    topo = topology_of(load_stack(REGISTRY))
    app = topo.service("app")
    assert (app.replicas, app.zones, app.net_admin) == (4, ("zone-a", "zone-a", "zone-b", "zone-b"), True)
    assert not topo.service("db").net_admin
    assert {link.name: (link.sources, link.to) for link in topo.links}["app-db"] == (("app",), "db")
    assert [(r.name, r.services, r.heal) for r in topo.roles] == [("primary", ("db", "db-replica"), "promote-replica")]
    assert topo.zones == ("zone-a", "zone-b")


def test_a_role_heal_that_is_no_runbook_is_one_line_with_file_and_line(tmp_path):
    text = REGISTRY.read_text().replace("heal: promote-replica       #", "heal: promote-replika       #")
    bad = REGISTRY.parent / ".test-role-heal.yaml"
    bad.write_text(text)
    try:
        with pytest.raises(ConfigError) as err:
            load_stack(bad)
    finally:
        bad.unlink()
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "promote-replika" in l)
    assert f"{bad}:{line}: x-drillkit.roles.primary.heal" in str(err.value)
    assert "use one of promote-replica" in str(err.value)


def test_reset_steps_are_runbook_steps_that_name_their_target(tmp_path):
    booking = load_stack("booking")
    assert booking.reset is not None and [s.kind for s in booking.reset.steps] == ["exec"]
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  db: {image: x}\nx-drillkit:\n  reset:\n    - exec: {command: 'true'}\n")
    with pytest.raises(ConfigError) as err:
        load_stack(compose)
    assert f"{compose}:5: x-drillkit.reset[0].exec" in str(err.value)


# -- the explore: section, checked by the scenario validator ------------------------------------------------
def test_an_exploration_needs_no_faults_and_drill_run_skips_it(tmp_path):
    path = scenario(tmp_path, "  exclude: [lb, db, sessions]\n  budget: {trials: 5}\n")
    sc = load_scenario(path)
    assert sc.faults == () and sc.exploration_only and sc.explore["budget"] == {"trials": 5}
    checked = validate_file(path, sections=SECTIONS)
    vocabulary = checked.sections["explore"]
    assert vocabulary.budget == Budget(trials=5)
    assert {t.label for t in vocabulary.targets} == {"app-1", "app-2", "app-3"}


def test_a_mistake_in_the_explore_section_names_file_line_and_fix(tmp_path):
    path = scenario(tmp_path, "  max_faults: 2\n  targets: [app-9]\n")
    with pytest.raises(ConfigError) as err:
        validate_file(path, sections=SECTIONS)
    line = path.read_text().splitlines().index("  targets: [app-9]") + 1
    text = str(err.value)
    assert text.startswith(f"{path}:{line}: explore.targets[0]: the stack offers no target 'app-9'"), text
    assert "fix: use one of" in text and "\n" not in text
    path = scenario(tmp_path, "  budget: {minutes: 3}\n")
    with pytest.raises(ConfigError, match=r":\d+: explore\.budget\.minutes: unknown key 'minutes'"):
        validate_file(path, sections=SECTIONS)
    path = scenario(tmp_path, "  kinds: [kill, meteor]\n")
    with pytest.raises(ConfigError, match=r"explore\.kinds\[1\]: unknown kind 'meteor'"):
        load_exploration(path)


def test_drill_validate_checks_the_explore_section(tmp_path):
    path = scenario(tmp_path, "  seed: -1\n")
    r = subprocess.run([sys.executable, "-m", "drillkit.cli", "validate", str(path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{path}:" in r.stderr and "explore.seed" in r.stderr


def test_load_exploration_merges_switches_and_overrides_budget_and_seed(tmp_path):
    path = scenario(tmp_path, "  exclude: [lb, db, sessions]\n  seed: 3\n")
    e = load_exploration(path, switches={"sessions": "node-memory"}, budget=Budget(trials=7), seed=9)
    assert e.switches == {"sessions": "node-memory"} and e.stack.chosen["sessions"] == "node-memory"
    assert (e.vocabulary.budget, e.vocabulary.seed) == (Budget(trials=7), 9)
    assert e.base["switches"] == {"sessions": "node-memory"}
    with pytest.raises(ConfigError, match="--switch: switch sessions='nowhere' is not a choice"):
        load_exploration(path, switches={"sessions": "nowhere"})
    plain = scenario(tmp_path, "", name="plain.yaml").read_text().replace("explore:\n", "faults: [{kind: kill, target: {service: app, replica: 1}}]\n")
    (tmp_path / "plain.yaml").write_text(plain)
    with pytest.raises(ConfigError, match="no explore: section"):
        load_exploration(tmp_path / "plain.yaml")


def test_a_trial_is_the_base_scenario_with_the_schedule_and_the_finding_runs_where_it_is_written(tmp_path):
    path = scenario(tmp_path, "  exclude: [lb, db, sessions]\n")
    e = load_exploration(path, switches={"sessions": "node-memory"})
    v = e.vocabulary
    kill = next(i for i, o in enumerate(v.options) if o.label == "kill app-2")
    from drillkit.explore.vocabulary import Pick
    sched = v.schedule([Pick(kill, 0, 0, 2)])
    trial = sched.to_scenario({k: x for k, x in e.base.items() if k != "explore"})
    assert trial["faults"] == [{"kind": "kill", "target": {"service": "app", "replica": 2}, "at": "0s", "for": "3s"}]
    assert "explore" not in trial and trial["switches"] == {"sessions": "node-memory"}
    found = tmp_path / "reports" / "found"
    found.mkdir(parents=True)
    base = base_for(e, found)
    assert base["environment"] == os.path.relpath(LIBRARY, found)
    written = found / "library-loans-1.yaml"
    from drillkit.explore.schedule import scenario_yaml
    written.write_text(scenario_yaml(sched.to_scenario(base)))
    again = load_scenario(written)
    assert again.switches == {"sessions": "node-memory"} and [f.kind for f in again.faults] == ["kill"]
    assert Schedule.from_scenario(yaml.safe_load(written.read_text()), v) == sched


# -- the command line ----------------------------------------------------------------------------------------
def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "drillkit.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})


@pytest.mark.parametrize("args, expected", [
    (["--budget", "soon"], "--budget: 'soon' is neither a time nor a number of trials"),
    (["--budget", "0"], "--budget: '0' is not a budget"),
    (["--seed", "-2"], "--seed: seed -2 is negative"),
    (["-s", "sessions"], "--switch: switch 'sessions' is not NAME=VALUE"),
    (["-s", "sessions=nowhere"], "--switch: switch sessions='nowhere' is not a choice"),
])
def test_bad_arguments_are_one_line_and_exit_2_before_anything_starts(tmp_path, args, expected):
    path = scenario(tmp_path, "  exclude: [lb, db, sessions]\n")
    r = run_cli("explore", str(path), "--report-dir", str(tmp_path / "r"), *args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("drill: error:") and expected in lines[0], r.stderr
    assert not (tmp_path / "r").exists()


def test_a_missing_file_and_a_file_without_explore_are_input_errors(tmp_path):
    r = run_cli("explore", str(tmp_path / "nothing.yaml"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "nothing.yaml" in r.stderr
    r = run_cli("explore")
    assert r.returncode == 2 and "file" in r.stderr


def test_parse_budget():
    assert parse_budget("8m") == Budget(time=480.0)
    assert parse_budget("40") == Budget(trials=40)
    assert parse_budget("8m,40") == Budget(time=480.0, trials=40)
    assert parse_budget("90s 12") == Budget(time=90.0, trials=12)
    for bad in ("", "8m,9m", "1,2", "-3", "1,2,3"):
        with pytest.raises(ConfigError):
            parse_budget(bad)


def test_explore_is_in_the_help():
    r = run_cli("explore", "--help")
    assert r.returncode == 0
    for word in ("--budget", "--seed", "--baseline", "--write-to", "--json", "--report-dir", "130"):
        assert word in r.stdout


# -- the reports ---------------------------------------------------------------------------------------------
def explored_result(tmp_path: Path, *, found: bool = True, intermittent: bool = False) -> DrillResult:
    scen = tmp_path / "found" / "library-loans-1.yaml"
    scen.parent.mkdir(parents=True, exist_ok=True)
    scen.write_text("scenario: x\n")
    finding = {"schedule": "kill app-2 at 0s for 3s", "size": 1, "first": "pause app-1 at 1s for 2s; kill app-2 at 0s for 3s",
               "first_size": 2, "faults": [{"kind": "kill", "target": {"service": "app", "replica": 2}, "at": "0s", "for": "3s"}],
               "verdicts": ["sessions lost: 4 of 12 (expected 0)"], "broken": ["sessions_lost"],
               "how": "found in trial 2 after 31 s; shrunk from 2 faults to 1 in 5 runs; reproduced 2 of 2",
               "found_run": 2, "found_after": 31.0, "shrink_runs": 5, "reproduced": [2, 2], "fully_shrunk": True,
               "scenario": str(scen), "copies": [], "timeline": None}
    inter = [{"schedule": "pause app-3 at 0s for 1s", "size": 1, "failures": 1, "runs": 3, "rate": 0.333,
              "verdicts": ["sessions lost: 1 of 12 (expected 0)"], "broken": ["sessions_lost"], "first_run": 4,
              "confirmed": True, "sentence": "pause app-3 at 0s for 1s: failed 1 of 3 runs (33%) — intermittent"}]
    data = {"file": "x.yaml", "stack": "library-loans", "seed": 1, "vocabulary": "12 faults", "stopped": "found",
            "switches": {"sessions": "node-memory"}, "finding": finding if found else None, "others": [],
            "intermittent": inter if intermittent else [],
            "coverage": {"runs": 9, "schedules": 5, "elapsed": 120.0, "not_judged": 0, "kinds": {"kill": 4, "pause": 3},
                         "targets": {"app-2": 4, "app-1": 3}},
            "measured": {"resets": {"count": 8, "median": 0.4, "max": 0.9}}, "sentences": ["nothing failed (budget)"],
            "baseline": None}
    outcome = "failed" if found or intermittent else "passed"
    return DrillResult(name="explore x.yaml", stack="library-loans", fault="explore: kill",
                       scenario="library — explored", outcome=outcome, duration=120.0,
                       sentences=["found: kill app-2 at 0s for 3s"] if found else [], explored=data)


def test_summary_and_its_json_carry_the_exploration(tmp_path):
    md, js = write_summary([explored_result(tmp_path, intermittent=True)], tmp_path)
    text = md.read_text()
    assert "## Explored" in text and "finding: `kill app-2 at 0s for 3s`" in text
    assert "reproduce: `drill run " in text and "intermittent: pause app-3" in text
    assert "reset between trials: median 0.4 s" in text
    row = json.loads(js.read_text())["drills"][0]
    assert row["explored"]["finding"]["reproduced"] == [2, 2] and row["outcome"] == "failed"


def test_allure_gets_one_test_per_finding_and_intermittent_and_one_for_a_clean_exploration(tmp_path):
    results = tmp_path / "allure-results"
    results.mkdir()
    paths = write_explored_allure([explored_result(tmp_path, intermittent=True)], tmp_path)
    docs = [json.loads(p.read_text()) for p in paths]
    assert [d["status"] for d in docs] == ["failed", "failed"]
    finding, inter = docs
    assert finding["name"] == "explore library-loans: kill app-2 at 0s for 3s"
    assert finding["statusDetails"]["message"].startswith("drill failed:")     # the "Stack defect" category
    assert "found in trial 2 after 31 s" in finding["descriptionHtml"]
    assert [s["name"] for s in finding["steps"]] == ["kill target={'service': 'app', 'replica': 2} at=0s for=3s"]
    assert any(a["name"] == "scenario that reproduces it" for a in finding["attachments"])
    assert inter["statusDetails"]["flaky"] is True                              # "Unstable drill"
    for p in results.glob("*-result.json"):
        p.unlink()
    clean = write_explored_allure([explored_result(tmp_path, found=False)], tmp_path)
    assert [json.loads(p.read_text())["status"] for p in clean] == ["passed"]
    assert explored_tests(DrillResult("n", "s", "f", "t", "broken", explored={"coverage": {}}))[0]["status"] == "broken"
    assert write_explored_allure([DrillResult("n", "s", "f", "t", "passed")], tmp_path) == []   # drill run's drills


def test_the_management_page_has_an_explored_section(tmp_path):
    _, js = write_summary([explored_result(tmp_path)], tmp_path)
    page = build_page(json.loads(js.read_text()), [])
    assert "Explored: combinations of faults nobody scripted" in page
    assert "kill app-2 at 0s for 3s" in page and "Exploration found 1 problem(s) nobody had scripted" in page
    _, js = write_summary([explored_result(tmp_path, found=False)], tmp_path)
    page = build_page(json.loads(js.read_text()), [])
    assert "Exploration tried 9 fault combination(s) on 1 service(s): nothing failed." in page


# -- the shipped explorations and the CI templates -----------------------------------------------------------
EXPLORATIONS = sorted([*ROOT.glob("explorations/*.yaml"), *ROOT.glob("examples/*/explorations/*.yaml")])


@pytest.mark.parametrize("path", EXPLORATIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_exploration_checks_and_explores_the_promise_of_its_drill(path):
    e = load_exploration(path)
    assert e.scenario.exploration_only and e.scenario.expect.items
    assert len(e.vocabulary.options) >= 6 and e.vocabulary.budget.time == 480
    if "role:primary" in {t.label for t in e.vocabulary.targets} and e.stack.stack == "registry":
        kill = next(o for o in e.vocabulary.options if o.label == "kill role:primary")
        assert kill.heal == "promote-replica"          # as the stack declares: never restarted beside the new one


def test_the_benchmark_names_every_seeded_defect_with_an_exploration_that_checks():
    import importlib.util
    spec = importlib.util.spec_from_file_location("explore_recall", ROOT / "benchmarks" / "explore_recall.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["explore_recall"] = bench          # its dataclasses look their module up
    try:
        spec.loader.exec_module(bench)
    finally:
        sys.modules.pop("explore_recall", None)
    assert len(bench.DEFECTS) >= 8 and len({d.name for d in bench.DEFECTS}) == len(bench.DEFECTS)
    for d in bench.DEFECTS:
        e = load_exploration(ROOT / d.file, switches=d.switches)
        assert e.stack.chosen.items() >= d.switches.items()
    assert set(bench.SOUND.values()) == {d.file for d in bench.DEFECTS}
    rows = [{"row": "a:x=y", "sound": False, "causes": 1, "guided": {
        "found": True, "found_after": 61.0, "found_trial": 2, "size": 1, "first_size": 2, "reproduced": [2, 2],
        "intermittent": [], "not_judged": 0}, "random": {"found": True, "found_after": 200.0, "found_trial": 7,
                                                          "size": 3, "not_judged": 0},
             "measured": {"resets": {"count": 5, "median": 0.4}}, "trials_per_hour": 80.0, "runs": {"total": 9}},
            {"row": "sound a", "sound": True, "guided": {"found": False, "others": [], "intermittent": [],
                                                          "not_judged": 0}, "random": {"found": False, "not_judged": 0},
             "measured": {}, "trials_per_hour": 70.0, "runs": {"total": 20}}]
    text = "\n".join(bench.table(rows))
    assert "| a:x=y | yes | 1 min 1 s | 2 | 1 (2) | 1 | 2 of 2 | 3 min 20 s | 7 | 3 | 0.40 s | 80.0 |" in text
    assert "found: 1 of 1 seeded defects" in text and "3.28×" in text
    assert "| sound a | 20 | 0 | 0 | 0 | — | 70.0 |" in text


@pytest.mark.parametrize("template", ["ci/github/explore.yml", "ci/gitlab/explore.gitlab-ci.yml"])
def test_the_optional_nightly_explore_job_runs_drill_explore_and_keeps_the_example_database(template):
    text = (ROOT / template).read_text()
    doc = yaml.safe_load(text)
    assert "./drill explore" in text and "--seed" in text and "--budget" in text
    assert "reports/explore-db" in text                # cached between nights: earlier findings replayed first
    default = next(iter(v["default"] for v in (doc.get(True, doc.get("on")) or {}).get("workflow_dispatch", {})
                        .get("inputs", {}).values() if "explorations/" in str(v.get("default"))), None) \
        if "github" in template else None
    if default:
        assert (ROOT / default).is_file()
    if "gitlab" in template:
        job = doc["explore"]
        assert job["stage"] == "drills" and "$DRILL_EXPLORE" in job["rules"][0]["if"]


# -- the door, on a simulated lab ----------------------------------------------------------------------------
class FakeLab:
    """Stands for LabRunner (no Docker): a defect fires when a schedule kills ``app-2``; ``unjudged``:
    every run's steady state fails; ``interrupt_at``: Ctrl-C in the run after that many failed ones."""

    defect = "kill app-2"
    unjudged = False
    interrupt_at: int | None = None

    def __init__(self, exploring, *, report_dir, backend=None, say=print, status=None):
        from drillkit.explore.lab import _Stats
        self.runs, self.interrupted_by = [], None
        self.resets, self.fresh, self.startup = _Stats(), _Stats(), _Stats()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def start(self):
        pass

    def run(self, schedule):
        from drillkit.explore import TrialResult
        from drillkit.explore.lab import TrialRun
        n = len(self.runs) + 1
        if self.interrupt_at is not None and sum(r.outcome == "failed" for r in self.runs) >= self.interrupt_at:
            self.interrupted_by = "SIGINT"
            raise KeyboardInterrupt
        if self.unjudged:
            self.runs.append(TrialRun(n, schedule, "not-judged", None, sentences=("not judged: steady state not met",)))
            return TrialResult(False, ("not judged: steady state not met",), judged=False)
        failed = any(d.label == self.defect for d in schedule.faults)
        self.runs.append(TrialRun(n, schedule, "failed" if failed else "passed", None, reset=0.2 if n > 1 else None,
                                  sentences=("sessions lost: 3 of 4 (expected 0)",) if failed else ()))
        if n > 1:
            self.resets.values.append(0.2)
        if failed:
            return TrialResult(True, ("sessions lost: 3 of 4 (expected 0)",), broken=("sessions_lost",))
        return TrialResult(False)

    def failing_run(self, schedule):
        return next((r for r in reversed(self.runs) if r.outcome == "failed" and r.schedule.text == schedule.text), None)

    def measured(self):
        return {"resets": self.resets.summary(), "fresh_environments": self.fresh.summary(),
                "startup": self.startup.summary(), "trial": {"count": len(self.runs), "median": None, "max": None}}


@pytest.fixture
def fake_lab(monkeypatch):
    from drillkit.explore import door

    def no_engine():
        raise ConnectionError("no engine in a unit test")

    monkeypatch.setattr(door, "LabRunner", FakeLab)
    monkeypatch.setattr(door, "client", no_engine)
    for k in ("defect", "unjudged", "interrupt_at"):
        monkeypatch.setattr(FakeLab, k, getattr(FakeLab, k))
    return FakeLab


def explore_here(tmp_path, **kw):
    from drillkit.explore import run_exploration
    path = scenario(tmp_path, "  exclude: [lb, db, sessions]\n  kinds: [pause, kill]\n  max_faults: 2\n"
                              "  budget: {trials: 30}\n  seed: 2\n")
    lines: list[str] = []
    result = run_exploration(path, report_dir=tmp_path / "reports", say=lines.append, html=False, pdf=False, **kw)
    return result, lines


def test_the_door_writes_the_finding_and_reports_it_exit_1(tmp_path, fake_lab):
    result, lines = explore_here(tmp_path, write_to=tmp_path / "catalogue")
    assert result.exit_code == 1 and result.run.result == "defect"
    finding = result.explored["finding"]
    assert finding["schedule"].startswith("kill app-2") and finding["size"] == 1 and finding["reproduced"] == [2, 2]
    written = tmp_path / "reports" / "found" / "library-loans-1.yaml"
    assert finding["scenario"] == str(written) and written.is_file()
    assert (tmp_path / "catalogue" / "library-loans-1.yaml").is_file()
    doc = yaml.safe_load(written.read_text())
    assert doc["faults"][0]["target"] == {"service": "app", "replica": 2} and "explore" not in doc
    assert load_scenario(written).faults                                       # a drill drill run can run
    reports = tmp_path / "reports"
    assert "## Explored" in (reports / "summary.md").read_text()
    assert [json.loads(p.read_text())["status"] for p in (reports / "allure-results").glob("*-result.json")] == ["failed"]
    assert (reports / "management.html").is_file() and (reports / "history.jsonl").is_file()
    assert (reports / "explore-db").is_dir()
    as_json = result.as_json()
    assert as_json["exit_code"] == 1 and as_json["drills"][0]["held"] is False and as_json["explore"]["finding"]
    assert any(l.startswith("drill: trial 1/30 (search") for l in lines)
    assert any("best so far: 1 fault(s)" in l for l in lines)


def test_the_door_says_nothing_failed_exit_0(tmp_path, fake_lab):
    fake_lab.defect = "meteor"
    result, lines = explore_here(tmp_path)
    assert result.exit_code == 0 and result.run.result == "held"
    assert result.explored["finding"] is None and result.explored["coverage"]["runs"] > 5
    assert not (tmp_path / "reports" / "found").exists()
    assert any("nothing failed" in l for l in lines)


def test_the_door_stops_on_a_lab_that_cannot_be_judged_exit_2(tmp_path, fake_lab):
    fake_lab.unjudged = True
    result, _ = explore_here(tmp_path)
    assert result.exit_code == 2 and result.run.result == "not-judged"
    assert result.explored["stopped"] == "lab" and result.explored["coverage"]["runs"] == 3


def test_ctrl_c_keeps_what_was_found_exit_130(tmp_path, fake_lab):
    fake_lab.interrupt_at = 2          # after the confirmation, while shrinking
    result, _ = explore_here(tmp_path)
    assert result.exit_code == 130 and result.run.signal == "SIGINT"
    assert result.explored["finding"] is not None and result.explored["finding"]["fully_shrunk"] is False
    assert (tmp_path / "reports" / "found" / "library-loans-1.yaml").is_file()
