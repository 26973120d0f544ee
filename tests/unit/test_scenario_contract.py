"""Scenario keys of the stack contract: environment paths relative to the scenario, the entry point the
probe and users need, switches for any ${VAR}, `heal:`, role targets, `runbook:` and `ground_truth:`.
Each mistake is one line naming file:line, field and fix; nothing is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.errors import ConfigError
from drillkit.scenario.model import load_scenario
from drillkit.scenario.runner import Schedule
from drillkit.stack.runbook import Runbook
from drillkit.stack.target import Target

COMPOSE = """\
x-drillkit:
  stack: pair
  %(entry)s
  roles:
    primary: {service: pg, check: "test -e /primary"}
  runbooks:
    promote:
      - exec: {on: {service: pg, replica: 2}, command: promote-me}
    rejoin:
      - start: fault
services:
  pg:
    image: x
    deploy: {replicas: 2}
    environment: {SYNC: "${SYNC:-off}"}
  web:
    image: x
    ports: ["8000"]
"""

SCENARIO = """\
scenario: pair failover
environment: ../env/compose.yaml
probe: false
faults:
  - kind: kill
    target: {role: primary}
    at: 1s
    for: 4s
    heal: rejoin
observe: 5s
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "compose.yaml").write_text(COMPOSE % {"entry": "entrypoint: {service: web, port: 8000}"})
    (tmp_path / "scenarios").mkdir()
    return tmp_path


def scenario(project: Path, text: str):
    p = project / "scenarios" / "s.yaml"
    p.write_text(text, encoding="utf-8")
    return load_scenario(p), p


def error(project: Path, text: str) -> tuple[str, Path]:
    p = project / "scenarios" / "s.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(p)
    msg = str(info.value)
    assert "\n" not in msg and "fix:" in msg and msg.startswith(f"{p}:"), msg
    return msg, p


def line_of(p: Path, needle: str) -> int:
    return next(i for i, line in enumerate(p.read_text().splitlines(), 1) if needle in line)


def test_environment_path_relative_to_the_scenario_file(project):
    sc, _ = scenario(project, SCENARIO)
    assert sc.environment == str((project / "env" / "compose.yaml").resolve())
    assert sc.stack == "pair"
    msg, p = error(project, SCENARIO.replace("../env/compose.yaml", "../nowhere/compose.yaml"))
    assert "environment:" in msg and f":{line_of(p, 'environment:')}:" in msg


def test_role_target_and_heal_by_runbook_name(project):
    sc, _ = scenario(project, SCENARIO)
    kill = sc.faults[0]
    assert kill.target == Target(None, role="primary")
    assert isinstance(kill.heal, Runbook) and kill.heal.name == "rejoin" and kill.heal.needs_fault


@pytest.mark.parametrize("heal, expected", [("start", "start"), ("none", "none")])
def test_heal_modes(project, heal, expected):
    sc, _ = scenario(project, SCENARIO.replace("heal: rejoin", f"heal: {heal}"))
    assert sc.faults[0].heal == expected


def test_inline_heal_steps_may_act_on_the_faults_nodes(project):
    sc, _ = scenario(project, SCENARIO.replace("heal: rejoin", "heal:\n      - exec: {on: {role: primary}, command: x}\n"
                                                                 "      - start: {wait: true}"))
    steps = sc.faults[0].heal.steps
    assert [s.kind for s in steps] == ["exec", "start"] and steps[1].attrs["target"] is None


@pytest.mark.parametrize("old, new, field, words", [
    ("heal: rejoin", "heal: later", "faults[0].heal", "neither start, none nor a runbook"),
    ("heal: rejoin", "heal: 3", "faults[0].heal", "not a number"),
    ("heal: rejoin", "heal: [{reboot: pg}]", "faults[0].heal[0].reboot", "unknown step kind"),
    ("target: {role: primary}", "target: {role: leader}", "faults[0].target.role", "declares no role 'leader'"),
    ("target: {role: primary}", "target: {role: primary, service: web}", "faults[0].target.service",
     "held by pg, not 'web'"),
    ("target: {role: primary}", "target: {role: primary, replica: 1}", "faults[0].target.replica",
     "no replica with it"),
    ("probe: false", "probe: false\nswitches: {SYNCH: on}", "switches.SYNCH", "no switch 'SYNCH' and no ${SYNCH}"),
])
def test_bad_contract_keys_are_one_line(project, old, new, field, words):
    msg, p = error(project, SCENARIO.replace(old, new))
    assert f": {field}:" in msg and words in msg, msg
    key = new.split(":")[0].strip().split("\n")[-1]
    assert f":{line_of(p, key)}:" in msg or field.startswith("switches") or field.startswith("faults[0].target"), msg


def test_any_variable_of_the_compose_file_is_a_switch(project):
    sc, _ = scenario(project, SCENARIO.replace("probe: false", "probe: false\nswitches: {SYNC: \"on\"}"))
    assert sc.switches == {"SYNC": "on"}


def test_probe_or_users_without_an_entry_point_is_an_error(project):
    (project / "env" / "compose.yaml").write_text(COMPOSE % {"entry": ""})
    msg, p = error(project, SCENARIO.replace("probe: false\n", ""))
    assert "the probe needs an entry point" in msg and "write probe: false" in msg
    assert f":{line_of(p, 'environment:')}:" in msg
    msg, p = error(project, SCENARIO.replace("probe: false", "probe: {path: /health}"))
    assert f":{line_of(p, 'probe:')}: probe:" in msg
    scenario(project, SCENARIO)                          # probe: false needs none


RUNBOOK = SCENARIO + """\
runbook:
  - after: faults[0]
    run: promote
  - at: 3s
    name: check
    steps:
      - exec: {on: {role: primary}, command: "true"}
"""


def test_runbook_entries_after_a_fault_and_at_a_time(project):
    sc, _ = scenario(project, RUNBOOK)
    first, second = sc.runbook
    assert (first.after, first.at, first.runbook.name) == (0, None, "promote")
    assert (second.after, second.at, second.runbook.name) == (None, 3.0, "check")
    events = Schedule(sc, None)._events()
    assert [(at, what) for at, _, what, _ in events] == [(1.0, "inject"), (3.0, "runbook"), (5.0, "heal")]


@pytest.mark.parametrize("old, new, words", [
    ("  - after: faults[0]\n", "  - after: faults[0]\n    at: 1s\n", "either `at` (in the schedule) or `after`"),
    ("    run: promote\n", "", "either `run` (a runbook's name) or `steps`"),
    ("run: promote", "run: demote", "has no runbook 'demote'"),
    ("run: promote", "run: rejoin", "can only be a fault's heal"),
    ("after: faults[0]", "after: faults[3]", "names no fault"),
    ("at: 3s", "at: 9s", "after observe ends at 6 s"),
    ("exec: {on: {role: primary}, command: \"true\"}", "exec: {command: \"true\"}", "needs a target"),
    ("    name: check\n", "    name: check\n    when: now\n", "unknown key 'when'"),
])
def test_bad_runbook_entries_are_one_line(project, old, new, words):
    assert old in RUNBOOK, old
    msg, _ = error(project, RUNBOOK.replace(old, new, 1))
    assert ": runbook[" in msg and words in msg, msg


def test_scenario_ground_truth_feeds_writes_lost(project):
    msg, p = error(project, SCENARIO + "expect: {writes_lost: 0}\n")
    assert "no ground truth 'writes' for environment 'env'" in msg and f":{line_of(p, 'writes_lost')}:" in msg
    (project / "scenarios" / "hooks.py").write_text("def ids(env):\n    return []\n")
    with_reader = SCENARIO + "ground_truth:\n  writes: {kind: python, call: ./hooks.py:ids}\nexpect: {writes_lost: 0}\n"
    msg, _ = error(project, with_reader)          # the reader is found; what is missing now is users who write
    assert "no users write in this scenario" in msg
    sc, _ = scenario(project, with_reader.replace("expect: {writes_lost: 0}\n", ""))
    assert sc.ground_truth["writes"].call(None) == []
