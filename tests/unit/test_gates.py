"""Gates before the first fault, without containers: ``wait_until`` asks PostgreSQL and Redis too; a
gate is declared in ``x-drillkit.gates`` or in a scenario's ``gate:``, checked until its deadline on a
fake environment, and one that never holds makes the drill *not judged* (SteadyStateNotMet) with one
sentence naming the gate, what it saw last and the deadline — and no fault injected."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from drillkit.errors import ConfigError, SteadyStateNotMet
from drillkit.lab.node import Node
from drillkit.stack import load_stack
from drillkit.stack.runbook import NotYet, parse_steps, wait_until
from drillkit.timeline import Timeline

COMPOSE = """\
x-drillkit:
  entrypoint: {service: web, port: 8000}
  roles:
    primary: {service: redis, check: "redis-cli role | head -1 | grep -qx master"}
    replica: {service: redis, check: "redis-cli role | head -1 | grep -qx slave"}
%(xdk)s
services:
  web:
    image: x
    ports: ["8000"]
  db:
    image: x
  redis:
    image: x
    deploy: {replicas: 2}
"""

INFO_DOWN = "# Replication\r\nrole:slave\r\nmaster_host:redis-1\r\nmaster_port:6379\r\nmaster_link_status:down\r\n" \
            "master_last_io_seconds_ago:-1\r\nslave_repl_offset:0\r\n"
INFO_UP = INFO_DOWN.replace("master_link_status:down", "master_link_status:up")


def compose(tmp_path: Path, xdk: str = "") -> Path:
    p = tmp_path / "environments" / "pair" / "compose.yaml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(COMPOSE % {"xdk": textwrap.indent(textwrap.dedent(xdk).strip("\n"), "  ") if xdk else ""},
                 encoding="utf-8")
    return p


class FakeEnv:
    """Just enough of an Environment for checks in its nodes: every node runs; ``answers`` says what a
    command prints, by node and by the command's first word (a callable gets the attempt number)."""

    def __init__(self, stack, answers: dict):
        self.spec, self.name = stack, stack.name
        self.nodes = {svc: [Node(stack.name, svc, r, "default", f"run-{svc}-{r}", "run")
                            for r in range(1, d.replicas + 1)] for svc, d in stack.services.items()}
        self.answers = answers
        self.calls: list[tuple[str, tuple]] = []

    def all_nodes(self):
        return [n for ns in self.nodes.values() for n in ns]

    def is_running(self, node):
        return True

    def exec_bounded(self, node, cmd, timeout, user=None):
        self.calls.append((node.name, tuple(cmd)))
        text = " ".join(cmd)
        if "role | head -1 | grep -qx master" in text:       # the roles' own checks
            return (0 if node.name == "redis-1" else 1), ""
        if "role | head -1 | grep -qx slave" in text:
            return (0 if node.name == "redis-2" else 1), ""
        answer = self.answers.get((node.name, cmd[0]), (1, "no answer"))
        if callable(answer):
            answer = answer(sum(1 for n, c in self.calls if n == node.name and c[0] == cmd[0]))
        return answer


def wait_step(tmp_path, body: str, xdk: str = ""):
    import yaml
    stack = load_stack(compose(tmp_path, xdk))
    raw = yaml.safe_load(f"- wait_until: {body}")
    (step,) = parse_steps(raw, "runbook.yaml", 1, "steps", stack, set())
    return stack, step


# -- wait_until asks PostgreSQL and Redis ------------------------------------------------------------
def test_wait_until_sql_builds_a_tuples_only_psql(tmp_path):
    _, step = wait_step(tmp_path, "{on: db, sql: {query: SELECT state FROM pg_stat_replication, user: rep, "
                                  "database: app, password: s3cret}, expect_output: '^streaming$'}")
    assert step.attrs["command"] == ("env", "PGPASSWORD=s3cret", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                                     "-U", "rep", "-d", "app", "-c", "SELECT state FROM pg_stat_replication")
    assert step.attrs["check"] == "sql `SELECT state FROM pg_stat_replication`"
    _, short = wait_step(tmp_path, "{on: db, sql: SELECT 1}")
    assert short.attrs["command"][-4:] == ("-U", "postgres", "-c", "SELECT 1")


def test_wait_until_redis_builds_a_redis_cli_call(tmp_path):
    _, step = wait_step(tmp_path, "{on: {role: replica}, redis: INFO replication, "
                                  "expect_output: 'master_link_status:up'}")
    assert step.attrs["command"] == ("redis-cli", "--raw", "-p", "6379", "INFO", "replication")
    assert step.attrs["target"].role == "replica"
    _, other = wait_step(tmp_path, "{on: redis, redis: {command: [PING], port: 6380, password: pw}}")
    assert other.attrs["command"] == ("redis-cli", "--raw", "-p", "6380", "-a", "pw", "--no-auth-warning", "PING")


@pytest.mark.parametrize("body, words", [
    ("{on: db, sql: {user: x}}", "needs `query`"),
    ("{on: db, sql: {query: SELECT 1, port: many}}", "port must be a number"),
    ("{on: db, sql: {query: SELECT 1, schema: x}}", "unknown key 'schema'"),
    ("{on: redis, redis: {command: []}}", "needs a Redis command"),
    ("{on: redis, redis: PING, sql: SELECT 1}", "not 2 (sql, redis)"),
    ("{redis: PING}", "needs a target"),
])
def test_bad_sql_and_redis_checks_are_one_line(tmp_path, body, words):
    with pytest.raises(ConfigError) as info:
        wait_step(tmp_path, body)
    msg = str(info.value)
    assert words in msg and "\n" not in msg and "fix:" in msg, msg


def test_redis_check_waits_until_the_link_is_up_and_names_the_line_it_saw(tmp_path):
    stack, step = wait_step(tmp_path, "{on: {role: replica}, redis: INFO replication, "
                                      "expect_output: 'master_link_status:up', deadline: 2s, interval: 10ms}")
    env = FakeEnv(stack, {("redis-2", "redis-cli"): lambda k: (0, INFO_UP if k >= 3 else INFO_DOWN)})
    assert wait_until(env, step.attrs).startswith("true on redis-2 after 3 attempt(s)")
    never = FakeEnv(stack, {("redis-2", "redis-cli"): (0, INFO_DOWN)})
    with pytest.raises(NotYet) as info:
        wait_until(never, {**step.attrs, "deadline": 0.1})
    # the line of INFO that the expectation is about, not the end of the whole answer
    assert info.value.last == "redis-2: output 'master_link_status:down' does not match 'master_link_status:up'"
    assert info.value.attempts >= 2 and info.value.deadline == 0.1


def test_redis_error_reply_does_not_pass_even_with_exit_0(tmp_path):
    stack, step = wait_step(tmp_path, "{on: {service: redis, replica: 1}, redis: PING, deadline: 50ms, interval: 10ms}")
    env = FakeEnv(stack, {("redis-1", "redis-cli"): (0, "NOAUTH Authentication required.\n")})
    with pytest.raises(NotYet) as info:
        wait_until(env, step.attrs)
    assert info.value.last == "redis-1: answered 'NOAUTH Authentication required.'"


# -- gates: declared, named, written in place ----------------------------------------------------------
GATES = """\
gates:
  replica-in-sync:
    description: the replica is linked to its master
    on: {role: replica}
    redis: INFO replication
    expect_output: 'master_link_status:up'
    deadline: 1s
    interval: 10ms
  one-primary: {role: primary, holders: 1, deadline: 500ms}
"""


def test_gates_are_declared_in_x_drillkit(tmp_path):
    stack = load_stack(compose(tmp_path, GATES))
    g = stack.gates["replica-in-sync"]
    assert g.description == "the replica is linked to its master" and g.deadline == 1 and g.attrs["interval"] == 0.01
    assert g.describe() == "redis `INFO replication` on role replica with output matching /master_link_status:up/"
    assert stack.gates["one-primary"].describe() == "role primary held by exactly 1 node(s)"


@pytest.mark.parametrize("xdk, field, words", [
    ("gates: [a]", "x-drillkit.gates", "mapping of name -> check"),
    ("gates: {in-sync: {on: redis, deadline: 5s}}", "x-drillkit.gates.in-sync", "needs what to check"),
    ("gates: {in-sync: {on: redis, redis: PING, within: 5s}}", "x-drillkit.gates.in-sync.within",
     "unknown key 'within'"),
    ("gates: {in-sync: {on: nowhere, redis: PING}}", "x-drillkit.gates.in-sync.on", "neither a service nor a role"),
    ("gates: {in-sync: {on: redis, redis: PING, deadline: soon}}", "x-drillkit.gates.in-sync.deadline",
     "not a duration"),
    ("gates: {in-sync: {role: leader}}", "x-drillkit.gates.in-sync.role", "no role 'leader'"),
    ("gates: {'in sync': {role: primary}}", "x-drillkit.gates.in sync", "not usable"),
])
def test_bad_gates_are_one_line_with_line_and_field(tmp_path, xdk, field, words):
    p = compose(tmp_path, xdk)
    with pytest.raises(ConfigError) as info:
        load_stack(p)
    msg = str(info.value)
    line = next(i for i, text in enumerate(p.read_text().splitlines(), 1) if "gates" in text)
    assert msg.startswith(f"{p}:{line}: {field}:") and words in msg and "fix:" in msg and "\n" not in msg, msg


SCENARIO = """\
scenario: the master dies; its replica takes over
environment: ../environments/pair/compose.yaml
probe: false
faults:
  - {kind: kill, target: {service: redis, replica: 1}, at: 0s, for: 1s}
observe: 1s
%(gate)s
"""


def scenario(tmp_path, gate: str) -> Path:
    p = tmp_path / "scenarios" / "failover.yaml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(SCENARIO % {"gate": gate}, encoding="utf-8")
    return p


def test_scenario_names_gates_and_writes_them_in_place(tmp_path):
    from drillkit.scenario.model import load_scenario
    compose(tmp_path, GATES)
    sc = load_scenario(scenario(tmp_path, "gate:\n  - replica-in-sync\n"
                                          "  - {name: marker, on: redis, command: test -f /ready, deadline: 2s}"))
    assert [g.name for g in sc.gates] == ["replica-in-sync", "marker"]
    assert sc.gates[1].describe() == "`test -f /ready` on redis"
    assert [g.name for g in load_scenario(scenario(tmp_path, "gate: one-primary")).gates] == ["one-primary"]
    assert load_scenario(scenario(tmp_path, "")).gates == ()


@pytest.mark.parametrize("gate, field, words", [
    ("gate: [in-sync]", "gate[0]", "has no gate 'in-sync' — fix: use one of replica-in-sync, one-primary"),
    ("gate: []", "gate", "non-empty list"),
    ("gate: {role: primary}", "gate", "non-empty list"),
    ("gate: [replica-in-sync, replica-in-sync]", "gate", "listed twice"),
    ("gate:\n  - {name: x, on: redis, redis: PING, expect: up}", "gate[0].expect", "unknown key 'expect'"),
    ("gate:\n  - {name: x, on: {service: redis, replica: 3}, redis: PING}", "gate[0].on.replica",
     "redis has 2 replica(s)"),
    ("gate:\n  - {name: x, on: redis, sql: {query: SELECT 1, port: x}}", "gate[0].sql.port", "port must be a number"),
])
def test_bad_scenario_gates_are_one_line_with_line_and_field(tmp_path, gate, field, words):
    from drillkit.scenario.model import load_scenario
    compose(tmp_path, GATES)
    p = scenario(tmp_path, gate)
    with pytest.raises(ConfigError) as info:
        load_scenario(p)
    msg = str(info.value)
    line = next(i for i, text in enumerate(p.read_text().splitlines(), 1) if "gate" in text)
    assert msg.startswith(f"{p}:") and f": {field}: " in msg and words in msg and "\n" not in msg, msg
    assert int(msg[len(str(p)) + 1:].split(":")[0]) in (line, line + 1), msg


# -- checking: holds, or the drill is not judged -----------------------------------------------------
def test_open_gates_waits_until_each_holds_and_records_it(tmp_path):
    from drillkit.stack.gate import open_gates
    stack = load_stack(compose(tmp_path, GATES))
    env = FakeEnv(stack, {("redis-2", "redis-cli"): lambda k: (0, INFO_UP if k >= 4 else INFO_DOWN)})
    tl = Timeline()
    said: list[str] = []
    results = open_gates(env, tl, [stack.gates["replica-in-sync"], stack.gates["one-primary"]], progress=said.append)
    assert [r.gate for r in results] == ["replica-in-sync", "one-primary"]
    assert results[0].detail == "true on redis-2 after 4 attempt(s)"
    assert results[1].detail == "role primary held by redis-1 after 1 attempt(s)"
    records = [(r["gate"], r["event"]) for r in tl.of("gate")]
    assert records == [("replica-in-sync", "start"), ("replica-in-sync", "open"), ("one-primary", "start"),
                       ("one-primary", "open")]
    assert said[0] == ("gate replica-in-sync: until redis `INFO replication` on role replica with output matching "
                       "/master_link_status:up/ (at most 1 s)")


def test_a_gate_that_never_holds_is_not_judged_with_one_sentence(tmp_path):
    from drillkit.stack.gate import open_gates
    stack = load_stack(compose(tmp_path, GATES))
    env = FakeEnv(stack, {("redis-2", "redis-cli"): (0, INFO_DOWN)})
    tl = Timeline()
    with pytest.raises(SteadyStateNotMet) as info:
        open_gates(env, tl, [stack.gates["replica-in-sync"], stack.gates["one-primary"]])
    why = info.value.why
    assert why.startswith("gate replica-in-sync did not hold within 1 s (") and why.endswith(
        "checks); last seen: redis-2: output 'master_link_status:down' does not match 'master_link_status:up'"), why
    assert str(info.value).startswith("not judged: steady state not met — no fault injected: gate replica-in-sync")
    assert "\n" not in str(info.value) and "fix:" in str(info.value)
    shut = [r for r in tl.of("gate") if r["event"] == "shut"]
    assert len(shut) == 1 and shut[0]["gate"] == "replica-in-sync" and shut[0]["attempts"] >= 2
    assert not [r for r in tl.of("gate") if r["gate"] == "one-primary"], "a later gate was checked after one failed"
    assert any(n["text"] == f"not judged: {why}" for n in tl.of("note"))


def test_a_role_with_no_holder_keeps_the_gate_shut_with_what_it_saw(tmp_path):
    from drillkit.stack.gate import open_gates
    stack = load_stack(compose(tmp_path, GATES))
    env = FakeEnv(stack, {})
    env.is_running = lambda node: node.name != "redis-2"        # the replica is down
    with pytest.raises(SteadyStateNotMet, match=r"last seen: no node of redis holds role 'replica' now "
                                                r"\(redis-1 exit 1; redis-2 not running\)"):
        open_gates(env, Timeline(), [stack.gates["replica-in-sync"]])


def test_drill_gate_takes_names_mappings_and_refuses_after_a_fault(tmp_path):
    from drillkit.drill import Drill
    from drillkit.errors import DrillkitError
    stack = load_stack(compose(tmp_path, GATES))
    env = FakeEnv(stack, {("redis-2", "redis-cli"): (0, INFO_UP), ("redis-1", "/bin/sh"): (0, ""),
                          ("redis-2", "/bin/sh"): (0, "")})
    drill = Drill(env, Timeline(), allure_steps=False)
    results = drill.gate("replica-in-sync", {"name": "marker", "on": "redis", "command": "test -f /ready",
                                             "deadline": "1s"})
    assert [r.gate for r in results] == ["replica-in-sync", "marker"]
    with pytest.raises(ConfigError, match="drill.gate: environment 'pair' has no gate 'nope'"):
        drill.gate("nope")
    drill.faults.append(object())
    with pytest.raises(DrillkitError, match="drill.gate after a fault was injected"):
        drill.gate("replica-in-sync")


def test_a_scenario_whose_gate_never_holds_injects_nothing(tmp_path):
    from drillkit.drill import Drill
    from drillkit.scenario.model import load_scenario
    from drillkit.scenario.runner import run_scenario
    stack = load_stack(compose(tmp_path, GATES))
    sc = load_scenario(scenario(tmp_path, "gate: [replica-in-sync]"))
    env = FakeEnv(stack, {("redis-2", "redis-cli"): (0, INFO_DOWN)})
    drill = Drill(env, Timeline(), allure_steps=False)
    with pytest.raises(SteadyStateNotMet, match="gate replica-in-sync did not hold within 1 s"):
        run_scenario(sc, drill)
    assert not drill.faults and not list(drill.timeline.of("fault"))
    assert [name for name, _s, _e in drill.timeline.phases()] == ["steady"]


def test_a_check_the_deadline_cut_short_does_not_hide_what_the_one_before_saw(tmp_path):
    """The last try before the deadline gets only what is left of it (at least 0.1 s): if that try
    does not finish, what the gate says it saw last is the try before, not 'did not finish'."""
    stack, step = wait_step(tmp_path, "{on: {role: replica}, redis: INFO replication, "
                                      "expect_output: 'master_link_status:up', deadline: 350ms, interval: 100ms}")

    class Slow(FakeEnv):
        def exec_bounded(self, node, cmd, timeout, user=None):
            if cmd[0] == "redis-cli" and timeout < 0.2:
                return None, f"did not finish within {timeout:g} s"
            return super().exec_bounded(node, cmd, timeout, user)
    env = Slow(stack, {("redis-2", "redis-cli"): (0, INFO_DOWN)})
    with pytest.raises(NotYet) as info:
        wait_until(env, step.attrs)
    assert info.value.last == "redis-2: output 'master_link_status:down' does not match 'master_link_status:up'"
