"""The stack contract as data, parsed and checked before anything starts: roles, ground-truth readers,
runbook steps, plug-ins, switches for any ${VAR}. Every mistake is one line with file:line, field, fix."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from drillkit.errors import ConfigError, FaultError
from drillkit.faults.base import Fault
from drillkit.stack import load_stack
from drillkit.stack.plugin import StackPlugin, entry_point_plugin, plugin_for
from drillkit.stack.reference import load_reference
from drillkit.stack.runbook import BUILTIN_STEPS
from drillkit.stack.target import Target
from drillkit.stack.truth import GroundTruth, extract_path, ground_truth_names, has_ground_truth, psql_command
from drillkit.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
x-drillkit:
  stack: bench
  entrypoint: {service: web, port: 8000}
  links:
    - {name: web-db, from: [web], to: db, port: 5432}
  roles:
    primary: {services: [db, db2], check: "pg_isready -q && test -e /primary"}
%(xdk)s
services:
  web:
    image: x
    ports: ["8000"]
    environment: {MODE: "${MODE:-a}", LEVEL: "${LEVEL}"}
  db:
    image: x
    deploy: {replicas: 2}
  db2:
    image: x
"""


def compose(tmp_path: Path, xdk: str = "", name: str = "compose.yaml") -> Path:
    p = tmp_path / name
    p.write_text(BASE % {"xdk": textwrap.indent(textwrap.dedent(xdk).strip("\n"), "  ") if xdk else ""},
                 encoding="utf-8")
    return p


def one_line_error(path: Path, fn=load_stack, *args) -> str:
    with pytest.raises(ConfigError) as info:
        fn(path, *args)
    msg = str(info.value)
    assert "\n" not in msg and "fix:" in msg and msg.startswith(str(path)), msg
    return msg


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# -- roles ---------------------------------------------------------------------------------------------
def test_roles_parse_with_services_in_order(tmp_path):
    spec = load_stack(compose(tmp_path))
    role = spec.roles["primary"]
    assert role.services == ("db", "db2")
    assert role.check == ("/bin/sh", "-c", "pg_isready -q && test -e /primary")


@pytest.mark.parametrize("roles, words", [
    ("roles: {primary: {services: [db, nope], check: 'true'}}", "unknown service 'nope'"),
    ("roles: {primary: {service: db}}", "needs `check`"),
    ("roles: {primary: {service: db, services: [db], check: 'true'}}", "either `service` or `services`"),
    ("roles: {web: {service: db, check: 'true'}}", "has the name of a service"),
    ("roles: {primary: {service: db, check: 'true', timeout: soon}}", "not a duration"),
    ("roles: {primary: {service: db, check: 'true', when: now}}", "unknown key 'when'"),
])
def test_bad_roles_are_one_line(tmp_path, roles, words):
    p = compose(tmp_path)
    p.write_text(p.read_text().replace("  roles:\n    primary: {services: [db, db2], check: \"pg_isready -q && test -e /primary\"}",
                                       "  " + roles))
    msg = one_line_error(p)
    assert words in msg and f":{line_of(p, 'roles:')}" in msg


# -- ground-truth readers --------------------------------------------------------------------------------
def test_readers_of_every_kind_parse(tmp_path):
    (tmp_path / "hooks.py").write_text("def ids(env):\n    return ['1', '2']\n")
    p = compose(tmp_path, """
        ground_truth:
          writes: {kind: sql, on: {role: primary}, query: "SELECT id, slot FROM b", user: app, database: app}
          sessions: {kind: redis, on: db2, command: SMEMBERS s, match: "s:(\\\\d+)"}
          listing: {kind: http, path: /items, ids: "items[*].id", columns: {slot: "items[*].slot"}}
          files: {kind: exec, on: {service: db, replica: 2}, command: ls /data}
          computed: {kind: python, call: ./hooks.py:ids}
        """)
    spec = load_stack(p)
    gt = spec.ground_truth
    assert gt["writes"].attrs["on"] == Target(None, role="primary")
    assert gt["sessions"].attrs["command"] == ("SMEMBERS", "s") and gt["sessions"].attrs["match"].pattern == r"s:(\d+)"
    assert gt["files"].attrs["on"] == Target("db", replica=2)
    assert gt["files"].attrs["command"] == ("/bin/sh", "-c", "ls /data")
    assert gt["computed"].call(None) == ["1", "2"]
    assert ground_truth_names(spec) == ["computed", "files", "listing", "sessions", "writes"]
    assert has_ground_truth(spec, "writes") and not has_ground_truth(spec, "bookings")
    assert has_ground_truth(spec, "bookings", {"bookings": lambda env: []})


@pytest.mark.parametrize("reader, field, words", [
    ("{kind: soap, on: db}", "ground_truth.w.kind", "unknown reader kind 'soap'"),
    ("{kind: sql, on: db}", "ground_truth.w.query", "needs `query`"),
    ("{kind: sql, on: db, query: x, table: t}", "ground_truth.w.table", "has no key 'table'"),
    ("{kind: sql, on: cache, query: x}", "ground_truth.w.on", "neither a service nor a role"),
    ("{kind: sql, on: {service: db, replica: 3}, query: x}", "ground_truth.w.on.replica", "2 replica(s), not 3"),
    ("{kind: sql, on: {service: web, role: primary}, query: x}", "ground_truth.w.on.service", "held by db, db2"),
    ("{kind: redis, on: db, command: GET x, match: '('}", "ground_truth.w.match", "not a regular expression"),
    ("{kind: http, path: items, ids: x}", "ground_truth.w.path", "must start with /"),
    ("{kind: http, path: /i, ids: 'a[*'}", "ground_truth.w.ids", "not an extraction path"),
    ("{kind: http, path: /i, ids: x, service: db}", "ground_truth.w", "service and port go together"),
    ("{kind: http, path: /i, ids: x, service: db, port: 80}", "ground_truth.w.port", "does not publish port 80"),
    ("{kind: http, path: /i, ids: x, columns: {ids: y}}", "ground_truth.w.columns.ids", "not usable"),
    ("{kind: exec, on: db, command: ''}", "ground_truth.w.command", "must be a command"),
    ("{kind: python, call: nowhere_module_x:fn}", "ground_truth.w.call", "cannot be imported"),
    ("{kind: python, call: ./missing.py:fn}", "ground_truth.w.call", "does not exist"),
])
def test_bad_readers_are_one_line_with_line_and_field(tmp_path, reader, field, words):
    p = compose(tmp_path, f"ground_truth:\n  w: {reader}")
    msg = one_line_error(p)
    assert f"x-drillkit.{field}:" in msg and words in msg, msg
    assert f":{line_of(p, '  w: ')}:" in msg


def test_extraction_paths():
    data = {"items": [{"id": 1, "slot": "a"}, {"id": 2}], "ids": [5, 6], "page": {"rows": [{"id": "x"}]}}
    assert extract_path(data, "items[*].id") == [1, 2]
    assert extract_path(data, "items[*].slot") == ["a"]
    assert extract_path(data, "ids") == [5, 6]
    assert extract_path(data, "page.rows[0].id") == ["x"]
    assert extract_path([{"id": 3}], "[*].id") == [3]
    assert extract_path(data, "nothing[*].id") == []


def test_psql_command_is_csv_with_errors_stopping_it():
    cmd = psql_command({"query": "SELECT 1", "user": "app", "database": "app", "host": "127.0.0.1",
                        "password": "pw"})
    assert cmd[:2] == ["env", "PGPASSWORD=pw"]
    assert "--csv" in cmd and "ON_ERROR_STOP=1" in cmd and cmd[-2:] == ["-c", "SELECT 1"]
    assert cmd[cmd.index("-U") + 1] == "app" and cmd[cmd.index("-h") + 1] == "127.0.0.1"


def test_registry_declares_its_writes_reader():
    spec = load_stack(ROOT / "environments/registry/compose.yaml")
    assert has_ground_truth(spec, "writes") and spec.ground_truth["writes"].kind == "sql"


# -- runbooks -----------------------------------------------------------------------------------------
STEPS = """
runbooks:
  failover:
    description: every built-in kind
    steps:
      - name: fence
        kill: db
      - stop: {service: db, replica: 2, grace: 1s}
      - name: promote
        exec: {on: db2, command: "echo t", expect_output: "^t$", expect_exit: [0, 1], user: postgres}
      - wait_until: {on: {role: primary}, command: [pg_isready], deadline: 5s, interval: 100ms}
      - wait_until: {http: /health, deadline: 5s}
      - link: {name: web-db, upstream: "db2:5432"}
      - start: {service: db, wait: false}
      - sleep: 500ms
      - python: {call: ./hooks.py:step, args: {n: 2}}
  heal-only:
    - start: fault
"""


def test_runbooks_of_every_step_kind_parse(tmp_path):
    (tmp_path / "hooks.py").write_text("def step(env, timeline, n=1):\n    return n\n")
    spec = load_stack(compose(tmp_path, STEPS))
    rb = spec.runbooks["failover"]
    assert rb.description == "every built-in kind"
    assert [s.name for s in rb.steps] == ["fence", "stop", "promote", "wait_until", "wait_until-2", "link",
                                          "start", "sleep", "python"]
    kinds = {s.name: s for s in rb.steps}
    assert kinds["fence"].attrs["target"] == Target("db")
    assert kinds["stop"].attrs == {"target": Target("db", replica=2), "grace": 1.0}
    assert kinds["promote"].attrs["expect_exit"] == (0, 1) and kinds["promote"].attrs["user"] == "postgres"
    assert kinds["wait_until"].attrs["command"] == ("pg_isready",) and kinds["wait_until"].attrs["interval"] == 0.1
    assert kinds["wait_until-2"].attrs["http"] == {"path": "/health", "status": 200}
    assert kinds["link"].attrs["upstream"] == "db2:5432"
    assert kinds["start"].attrs == {"target": Target("db"), "wait": False}
    assert kinds["sleep"].attrs == {"seconds": 0.5}
    assert kinds["python"].call(None, None, **kinds["python"].attrs["args"]) == 2
    assert not rb.needs_fault and spec.runbooks["heal-only"].needs_fault
    assert set(BUILTIN_STEPS) == {"exec", "wait_until", "link", "kill", "stop", "start", "sleep", "python"}


@pytest.mark.parametrize("step, field, words", [
    ("{exec: {on: db, command: x}, kill: db}", "r[0]", "exactly one kind, not 2"),
    ("{reboot: db}", "r[0].reboot", "unknown step kind 'reboot'"),
    ("{kill: nobody}", "r[0].kill", "neither a service nor a role"),
    ("{exec: {on: {role: leader}, command: x}}", "r[0].exec.on.role", "no role 'leader'"),
    ("{exec: {on: db}}", "r[0].exec.command", "needs `command`"),
    ("{exec: {on: db, command: x, expect_exit: 300}}", "r[0].exec.expect_exit", "0..255"),
    ("{exec: {on: db, command: x, expect_output: '['}}", "r[0].exec.expect_output", "not a regular expression"),
    ("{wait_until: {on: db, command: x, http: /h}}", "r[0].wait_until", "one of `command`, `sql`, `redis`, `http` or `role`"),
    ("{wait_until: {role: primary, command: x}}", "r[0].wait_until", "one of `command`, `sql`, `redis`, `http` or `role`"),
    ("{wait_until: {role: leader, holders: 1}}", "r[0].wait_until.role", "no role 'leader'"),
    ("{wait_until: {role: primary, holders: -1}}", "r[0].wait_until.holders", "whole number"),
    ("{wait_until: {role: primary, on: db}}", "r[0].wait_until.on", "a role check has no on"),
    ("{wait_until: {on: db, command: x, holders: 1}}", "r[0].wait_until.holders", "holders goes with role"),
    ("{wait_until: {on: db, command: x, deadline: -1s}}", "r[0].wait_until.deadline", "negative duration"),
    ("{wait_until: {http: {path: /h, service: db, port: 1}}}", "r[0].wait_until.http.port", "not a published port"),
    ("{link: {name: nope, upstream: 'db:1'}}", "r[0].link.name", "no link 'nope'"),
    ("{link: {name: web-db, upstream: 'example.org:5432'}}", "r[0].link.upstream", "not SERVICE:PORT"),
    ("{link: {name: web-db, upstream: 'db-3:5432'}}", "r[0].link.upstream", "not SERVICE:PORT"),
    ("{start: {service: db, wait: maybe}}", "r[0].start.wait", "true or false"),
    ("{sleep: forever}", "r[0].sleep", "not a duration"),
    ("{python: not-a-reference}", "r[0].python", "not module:attr"),
    ("{python: ./hooks.py:missing}", "r[0].python", "has no attribute 'missing'"),
    ("{name: '', sleep: 1s}", "r[0].name", "must be text"),
])
def test_bad_steps_are_one_line_with_line_and_field(tmp_path, step, field, words):
    (tmp_path / "hooks.py").write_text("def step(env, timeline):\n    pass\n")
    p = compose(tmp_path, f"runbooks:\n  r:\n    - {step}")
    msg = one_line_error(p)
    assert f"x-drillkit.runbooks.{field}:" in msg and words in msg, msg
    assert f":{line_of(p, step[:12])}:" in msg


def test_duplicate_step_names_are_refused(tmp_path):
    msg = one_line_error(compose(tmp_path, "runbooks:\n  r:\n    - {name: a, sleep: 1s}\n    - {name: a, sleep: 1s}"))
    assert "two steps are named 'a'" in msg


def test_yaml_on_key_is_not_true(tmp_path):
    spec = load_stack(compose(tmp_path, "runbooks:\n  r:\n    - exec:\n        on: db2\n        command: 'true'"))
    assert spec.runbooks["r"].steps[0].attrs["target"] == Target("db2")


# -- faults: heal modes and role targets ------------------------------------------------------------------
class _Mark(Fault):
    kind = "mark"

    def __init__(self, target=None, **kw):
        super().__init__(target, **kw)
        self.undone = 0

    def _inject(self, env):
        pass

    def _heal(self, env):
        self.undone += 1


def test_fault_heal_start_none_and_callable():
    tl = Timeline()
    f = _Mark()
    f.inject(None, tl), f.heal(None, tl)
    assert f.undone == 1
    f = _Mark(heal="none")
    f.inject(None, tl), f.heal(None, tl)
    assert f.undone == 0 and tl.records[-1]["detail"]["heal"] == "none"
    calls = []
    f = _Mark(heal=lambda env, timeline: calls.append(timeline))
    f.inject(None, tl), f.heal(None, tl)
    assert f.undone == 0 and calls == [tl] and tl.records[-1]["detail"]["heal"] == "<lambda>"
    with pytest.raises(FaultError, match="heal must be 'start', 'none' or a runbook step"):
        _Mark(heal="later")


def test_role_target_describes_itself():
    assert str(Target(None, role="primary")) == "role primary"
    assert str(Target("pg", role="primary")) == "role primary of pg"


# -- plug-ins ---------------------------------------------------------------------------------------------
PLUGIN = """
from drillkit.stack.plugin import StackPlugin

def reseed(env, timeline, rows=1):
    return rows

def stored(env):
    return {"ids": ["1"], "slot": ["a"]}

plugin = StackPlugin(name="bench", steps={"reseed": reseed}, ground_truth={"writes": stored, "other": stored})

def make():
    return plugin

broken = StackPlugin(steps={"exec": reseed})
not_a_plugin = 42
"""


def test_plugin_from_a_path_relative_to_the_compose_file(tmp_path):
    (tmp_path / "drill_plugin.py").write_text(PLUGIN)
    p = compose(tmp_path, """
        plugin: ./drill_plugin.py:plugin
        ground_truth:
          other: {kind: exec, on: db, command: ls}
        runbooks:
          r:
            - reseed: {rows: 3}
        """)
    spec = load_stack(p)
    merged = plugin_for(spec)
    assert merged.name == "bench" and "reseed" in merged.steps
    assert merged.ground_truth["writes"](None) == {"ids": ["1"], "slot": ["a"]}
    assert merged.ground_truth["other"] is spec.ground_truth["other"]      # the Compose file's data wins
    step = spec.runbooks["r"].steps[0]
    assert (step.kind, step.attrs, step.call(None, None, **step.attrs)) == ("reseed", {"rows": 3}, 3)
    assert load_stack(compose(tmp_path, "plugin: ./drill_plugin.py:make")).plugin is spec.plugin


@pytest.mark.parametrize("ref, words", [
    ("drill_plugin", "is not module:attr"),
    ("./nothere.py:plugin", "does not exist"),
    ("./drill_plugin.py:nothing", "has no attribute 'nothing'"),
    ("./drill_plugin.py:not_a_plugin", "is a int, not a StackPlugin"),
    ("./drill_plugin.py:broken", "step kind 'exec' is built in"),
    ("./failing.py:plugin", "failed to import: ZeroDivisionError"),
    ("no_such_pkg_anywhere.mod:plugin", "cannot be imported"),
])
def test_bad_plugin_reference_is_one_line_with_line(tmp_path, ref, words):
    (tmp_path / "drill_plugin.py").write_text(PLUGIN)
    (tmp_path / "failing.py").write_text("x = 1 / 0\n")
    p = compose(tmp_path, f"plugin: {ref}")
    msg = one_line_error(p)
    assert words in msg and f":{line_of(p, 'plugin:')}: x-drillkit.plugin:" in msg, msg


def test_plugin_from_an_entry_point(tmp_path, monkeypatch):
    dist = tmp_path / "site"
    (dist / "bench_drills.py").parent.mkdir()
    (dist / "bench_drills.py").write_text(PLUGIN)
    info = dist / "bench_drills-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-drills\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[drillkit.stacks]\nbench = bench_drills:plugin\n")
    monkeypatch.syspath_prepend(str(dist))
    entry_point_plugin.cache_clear()
    try:
        spec = load_stack(compose(tmp_path, "runbooks:\n  r:\n    - reseed: {}"))
        assert plugin_for(spec).ground_truth["writes"](None)["ids"] == ["1"]
        assert spec.runbooks["r"].steps[0].kind == "reseed"
    finally:
        entry_point_plugin.cache_clear()
        sys.modules.pop("bench_drills", None)


def test_load_reference_importable_module():
    assert load_reference("drillkit.stack.truth:extract_path", None) is extract_path


def test_stack_plugin_merge_later_wins():
    a = StackPlugin("a", steps={"x": len}, ground_truth={"w": len})
    b = StackPlugin("b", ground_truth={"w": str})
    m = a.merged(b)
    assert m.name == "b" and m.steps == {"x": len} and m.ground_truth == {"w": str}


def test_ground_truth_values_coerce():
    from drillkit.stack.truth import _coerce
    assert _coerce("w", [1, 2], "t").ids == ["1", "2"]
    assert _coerce("w", {"ids": [1], "slot": ["a"]}, "t").columns == {"slot": ["a"]}
    g = GroundTruth("w", ["9"])
    assert _coerce("w", g, "t") is g


# -- switches for any ${VAR} ---------------------------------------------------------------------------
def test_any_referenced_variable_is_a_switch(tmp_path):
    p = compose(tmp_path)
    spec = load_stack(p, {"MODE": "b", "level": "3"})
    assert spec.services["web"].environment == {"MODE": "b", "LEVEL": "3"}
    assert spec.chosen == {"MODE": "b", "level": "3"} and spec.accepts_switch("LEVEL")
    msg = one_line_error(p, load_stack, {"SYNC": "1"})
    assert "unknown switch 'SYNC'" in msg and "${LEVEL}, ${MODE}" in msg


def test_declared_switch_keeps_its_choices_under_its_variable_name():
    reg = ROOT / "environments/registry/compose.yaml"
    assert load_stack(reg, {"SESSIONS": "node-local"}).chosen["sessions"] == "node-local"
    with pytest.raises(ConfigError, match="is not a choice"):
        load_stack(reg, {"SESSIONS": "everywhere"})


def test_process_environment_is_the_fallback_and_a_switch_wins(tmp_path, monkeypatch):
    p = compose(tmp_path)
    monkeypatch.setenv("LEVEL", "from-env")
    monkeypatch.setenv("MODE", "")
    spec = load_stack(p)
    assert spec.services["web"].environment == {"MODE": "a", "LEVEL": "from-env"}   # ${MODE:-a}: empty -> a
    assert load_stack(p, {"LEVEL": "chosen"}).services["web"].environment["LEVEL"] == "chosen"
    monkeypatch.delenv("LEVEL")
    assert load_stack(p).services["web"].environment["LEVEL"] == ""


# -- which environments `drill run` builds ----------------------------------------------------------------
def test_environments_used_by_the_selected_drills(tmp_path):
    from drillkit.selection import environments_used
    drills = tmp_path / "drills"
    drills.mkdir()
    (drills / "test_a.py").write_text(textwrap.dedent("""
        import pytest
        @pytest.mark.drill("booking", fault="kill")
        def test_one(drill): pass
        @pytest.mark.drill(environment="identity")
        def test_two(drill): pass
        @pytest.mark.drill(fault="x")
        def test_default(drill): pass
        def test_plain(): pass
        """))
    (drills / "test_b.py").write_text("import pytest\npytestmark = pytest.mark.drill('booking')\n"
                                      "def test_x(drill): pass\n")
    (drills / "test_c.py").write_text("def test_fixture_only(drill_env): pass\n")
    assert environments_used([str(drills)], default="mine") == ["booking", "identity", "mine"]
    assert environments_used([str(drills / "test_c.py") + "::test_fixture_only"], default="d") == ["d"]
    assert environments_used([str(ROOT / "scenarios")]) == [str(ROOT / "environments/dualdc/compose.yaml"),
                                                             str(ROOT / "environments/registry/compose.yaml")]
    assert environments_used([str(tmp_path / "nothing")]) == []
