"""The ``explore:`` section: read into a vocabulary, every mistake one line naming the field and the fix,
and the offending node handed to the error factory (so the scenario validator can add file:line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from drillkit.errors import ConfigError
from drillkit.explore import Budget, Link, Role, Service, Topology, parse_explore
from drillkit.explore.config import example

ROOT = Path(__file__).resolve().parents[2]

STACK = Topology(
    "office",
    services=(Service("lb"), Service("app", 4, zones=("zone-a", "zone-a", "zone-b", "zone-b"), net_admin=True),
              Service("db"), Service("db-replica")),
    links=(Link("app-db", ("app",), "db"), Link("replication", ("db-replica",), "db")),
    roles=(Role("primary", ("db", "db-replica"), heal="promote-replica"),),
)

FULL = """
explore:
  kinds: [kill, hard_restart, partition, latency, v2]
  targets: [app-2, role:primary, link:app-db, "app|db", zone:zone-a]
  exclude: [lb]
  changes:
    v2: {kind: rolling_upgrade, target: {service: app}, build_args: {VERSION: "2"}}
  heal: {role:primary: promote-replica}
  latency: [100, 1s]
  max_faults: 2
  at: [0s, 30s]
  for: [2s, 12s]
  step: 2s
  overlap: false
  users: {clerks: [2, 20], readers: 5}
  budget: {time: 8m, trials: 200}
  seed: 1
  confirm: 3
"""


def test_the_whole_section_becomes_a_vocabulary():
    raw = yaml.safe_load(FULL)["explore"]
    v = parse_explore(raw).vocabulary(STACK, max_nodes=4)
    assert v.kinds == ("kill", "hard_restart", "partition", "latency", "v2")
    assert [t.label for t in v.targets] == ["app-2", "role:primary", "link:app-db", "app|db", "zone:zone-a"]
    assert [o.label for o in v.options] == ["kill app-2", "kill role:primary", "hard_restart app-2",
                                            "hard_restart role:primary", "partition app|db", "latency link:app-db", "v2"]
    assert v.latency == (100, 1000) and v.max_faults == 2 and v.at == (0.0, 30.0) and v.duration == (2.0, 12.0)
    assert v.step == 2.0 and v.overlap is False and v.users == {"clerks": (2, 20), "readers": (5, 5)}
    assert v.budget == Budget(time=480.0, trials=200) and v.seed == 1 and v.confirm == 3
    assert v.heals == {"role:primary": "promote-replica"} and v.max_nodes == 4
    # the partition app|db is cut from side A, 4 app nodes: more than a blast radius of 2 allows
    with pytest.raises(ConfigError, match=r"^explore\.kinds\[2\]: kind 'partition' has no target within max_nodes 2"):
        parse_explore(raw).vocabulary(STACK, max_nodes=2)


def test_an_empty_section_is_the_stack_default():
    v = parse_explore(None).vocabulary(STACK)
    assert v.kinds == ("latency", "pause", "restart", "hard_restart", "kill", "link_down", "partition", "zone_kill")
    assert "lb" in [t.label for t in v.targets]
    assert "lb" not in [t.label for t in parse_explore({"exclude": "lb"}).vocabulary(STACK).targets]


def test_the_documented_sections_parse():
    assert parse_explore(yaml.safe_load(example())["explore"]).fields["budget"] == Budget(time=480.0, trials=200)
    doc = (ROOT / "docs" / "explore.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if re.search(r"^\s*explore:", b, re.M)]
    assert len(blocks) >= 2
    for block in blocks:
        section = yaml.safe_load(block)
        parse_explore(section["explore"])


@pytest.mark.parametrize("raw, message", [
    ("explore: [kill]", r"explore: must be a mapping, not a list — fix: e\.g\. explore: "),
    ("explore: {max_fault: 3}", r"explore\.max_fault: unknown key 'max_fault' — fix: use kinds, targets, "),
    ("explore: {kinds: 3}", r"explore\.kinds: must be a list of names, not a number — fix: e\.g\. kinds: \[kill, partition\]"),
    ("explore: {at: 5s}", r"explore\.at: must be a range \[from, to\], not a string — fix: e\.g\. at: \[0s, 20s\]"),
    ("explore: {for: [1s, soon]}", r"explore\.for\[1\]: not a duration: 'soon' — fix: a duration: 500ms, 3s, 1m or seconds"),
    ("explore: {latency: [100, -1]}", r"explore\.latency\[1\]: must be a whole number ≥ 1, not -1"),
    ("explore: {max_faults: 0}", r"explore\.max_faults: must be a whole number 1\.\.20, not 0 — fix: e\.g\. max_faults: 3"),
    ("explore: {step: 0s}", r"explore\.step: step must be longer than 0 — fix: e\.g\. step: 1s"),
    ("explore: {overlap: maybe}", r"explore\.overlap: must be true or false, not 'maybe' — fix: overlap: true"),
    ("explore: {users: {clerks: [9, 2]}}", r"explore\.users\.clerks: \[9, 2\] runs backwards — fix: write \[2, 9\]"),
    ("explore: {users: {clerks: many}}", r"explore\.users\.clerks: must be \[fewest, most\], not a string"),
    ("explore: {budget: 8m}", r"explore\.budget: must be a mapping with time and/or trials, not a string"),
    ("explore: {budget: {hours: 1}}", r"explore\.budget\.hours: unknown key 'hours' — fix: use time, trials"),
    ("explore: {budget: {time: 0s}}", r"explore\.budget\.time: time must be longer than 0"),
    ("explore: {budget: {trials: 0}}", r"explore\.budget\.trials: must be a whole number ≥ 1, not 0"),
    ("explore: {seed: -1}", r"explore\.seed: must be a whole number ≥ 0, not -1"),
    ("explore: {confirm: 11}", r"explore\.confirm: must be a whole number 1\.\.10, not 11 — fix: confirm: 2 "),
    ("explore: {heal: {role:primary: 3}}", r"explore\.heal: must map target labels to runbook names"),
    ("explore: {changes: {v2: rolling_upgrade}}", r"explore\.changes\.v2: a change fault is a fault mapping with a kind"),
])
def test_a_mistake_in_the_section_is_one_line(raw, message):
    with pytest.raises(ConfigError, match="^" + message) as info:
        parse_explore(yaml.safe_load(raw)["explore"])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("raw, message", [
    ("explore: {targets: [app-9]}", r"explore\.targets\[0\]: the stack offers no target 'app-9' — fix: use one of lb, app-1, "),
    ("explore: {kinds: [smash]}", r"explore\.kinds\[0\]: unknown kind 'smash'"),
    ("explore: {targets: [app-1], kinds: [latency]}", r"explore\.kinds\[0\]: kind 'latency' has no target"),
    ("explore: {heal: {role:leader: promote}}", r"explore\.heal\.role:leader: heal names target 'role:leader', which is not explored"),
    ("explore: {exclude: [web]}", r"explore\.exclude\[0\]: the stack has no service or target 'web'"),
    ("explore: {at: [20s, 0s]}", r"explore\.at: range \[20s, 0s\] runs backwards"),
])
def test_a_section_that_does_not_fit_the_stack_is_one_line(raw, message):
    config = parse_explore(yaml.safe_load(raw)["explore"])
    with pytest.raises(ConfigError, match="^" + message):
        config.vocabulary(STACK)


def test_the_error_factory_gets_the_offending_node():
    """The scenario validator passes its own factory: ``container[key]`` is where file:line comes from."""
    calls = []

    class Located(ConfigError):
        pass

    def error(message, *, field, fix, container=None, key=None):
        calls.append((field, container, key))
        return Located(message, file="scenarios/x.yaml", line=7, field=field, fix=fix)

    raw = yaml.safe_load("explore: {for: [1s, soon], budget: {trials: 0}}")["explore"]
    with pytest.raises(Located, match=r"^scenarios/x\.yaml:7: scenario\.explore\.for\[1\]: not a duration"):
        parse_explore(raw, where="scenario.explore", error=error)
    field, container, key = calls[-1]
    assert container[key] == "soon"

    raw = yaml.safe_load("explore: {targets: [app-1, app-9]}")["explore"]
    config = parse_explore(raw, error=error)
    with pytest.raises(Located, match=r"explore\.targets\[1\]: the stack offers no target 'app-9'"):
        config.vocabulary(STACK)
    field, container, key = calls[-1]
    assert container[key] == "app-9"

    raw = yaml.safe_load("explore: {changes: {v2: {kind: rolling_upgrade, at: 5s}}}")["explore"]
    with pytest.raises(Located, match=r"explore\.changes\.v2\.at: `at` is drawn by the search"):
        parse_explore(raw, error=error).vocabulary(STACK)
    field, container, key = calls[-1]
    assert (key, container[key]) == ("at", "5s")
