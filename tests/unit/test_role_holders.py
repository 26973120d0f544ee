"""What an HA cluster drill needs from the contract, without containers: roles as partition sides,
a runbook step that counts a role's holders (one primary after a failover), and a PostgreSQL client
that lists every replica of a service so libpq follows the primary."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from drillkit.errors import ConfigError, FaultError
from drillkit.lab.node import Node
from drillkit.stack import load_stack
from drillkit.stack.runbook import RunbookFailed, parse_steps, run_runbook
from drillkit.timeline import Timeline

COMPOSE = """\
x-drillkit:
  roles:
    primary: {service: pg, check: "is-primary"}
    replica: {service: pg, check: "is-replica"}
services:
  etcd:
    image: x
  pg:
    image: x
    deploy: {replicas: 3}
"""


def spec(tmp_path: Path):
    p = tmp_path / "environments" / "ha" / "compose.yaml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(COMPOSE, encoding="utf-8")
    return load_stack(p)


def nodes(*names: str) -> list[Node]:
    return [Node("ha", n.rsplit("-", 1)[0], int(n.rsplit("-", 1)[1]), "default", f"run-ha-{n}", "run")
            for n in names]


class FakeEnv:
    """Just enough of an Environment for resolution: its nodes, all running."""

    def __init__(self, s):
        self.spec, self.name = s, s.name
        self.nodes = {svc: nodes(*(f"{svc}-{r}" for r in range(1, d.replicas + 1))) for svc, d in s.services.items()}

    def all_nodes(self):
        return [n for ns in self.nodes.values() for n in ns]

    def is_running(self, node):
        return True


# -- a runbook step: wait until exactly N nodes hold a role ---------------------------------------------
def steps(tmp_path, text: str):
    import yaml
    raw = yaml.safe_load(textwrap.dedent(text))
    return parse_steps(raw, "scenario.yaml", 1, "heal", spec(tmp_path), set(), in_heal=True)


def test_role_count_step_parses(tmp_path):
    (step,) = steps(tmp_path, "- {name: one-primary, wait_until: {role: primary, holders: 1, deadline: 2s, interval: 50ms}}")
    assert step.attrs["role"] == "primary" and step.attrs["holders"] == 1
    assert step.attrs["deadline"] == 2 and step.attrs["interval"] == 0.05
    (default,) = steps(tmp_path, "- wait_until: {role: replica}")
    assert default.attrs["holders"] == 1


@pytest.mark.parametrize("text, words", [
    ("- wait_until: {role: leader}", "no role 'leader'"),
    ("- wait_until: {role: primary, holders: two}", "whole number"),
    ("- wait_until: {role: primary, expect_output: x}", "a role check has no expect_output"),
    ("- wait_until: {role: primary, http: /h}", "one of `command`, `sql`, `redis`, `http` or `role`"),
])
def test_bad_role_count_steps_are_one_line(tmp_path, text, words):
    with pytest.raises(ConfigError) as info:
        steps(tmp_path, text)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_role_count_waits_until_exactly_that_many_hold_it(tmp_path, monkeypatch):
    """Two primaries right after the old one came back, then one: the step passes at the second look;
    a second primary that stays fails it with the holders named."""
    s = spec(tmp_path)
    env = FakeEnv(s)
    seen = iter([nodes("pg-1", "pg-3"), nodes("pg-3")])
    monkeypatch.setattr("drillkit.stack.runbook.role_nodes", lambda env, name, service=None: next(seen))
    rb = steps(tmp_path, "- {name: one-primary, wait_until: {role: primary, holders: 1, deadline: 2s, interval: 10ms}}")
    tl = Timeline()
    result = run_runbook(env, tl, rb, name="check")
    assert result.details["one-primary"] == "role primary held by pg-3 after 2 attempt(s)"

    monkeypatch.setattr("drillkit.stack.runbook.role_nodes", lambda env, name, service=None: nodes("pg-1", "pg-3"))
    rb = steps(tmp_path, "- {name: one-primary, wait_until: {role: primary, holders: 1, deadline: 50ms, interval: 10ms}}")
    with pytest.raises(RunbookFailed, match=r"step one-primary failed after .*role primary held by 2 node\(s\) "
                                            r"\(pg-1, pg-3\), expected 1"):
        run_runbook(env, tl, rb, name="check")
    failed = [r for r in tl.records if r.get("kind") == "runbook" and r.get("event") == "failed"]
    assert len(failed) == 1 and "expected 1" in failed[0]["detail"]


# -- a partition whose sides are roles, resolved when injected -----------------------------------------
def test_partition_sides_resolve_roles_at_inject(tmp_path, monkeypatch):
    from drillkit.faults.network import Partition
    s = spec(tmp_path)
    env = FakeEnv(s)
    holders = {"primary": nodes("pg-2"), "replica": nodes("pg-1", "pg-3")}
    monkeypatch.setattr("drillkit.faults.network.role_nodes", lambda env, name, service=None: holders[name])
    p = Partition(side_a=["primary"], side_b=["replica"])
    assert [n.name for n in p._resolve(env)] == ["pg-2"]
    assert [n.name for n in p.peers] == ["pg-1", "pg-3"]
    # services and nodes still work, and a node is never on both sides
    p = Partition(side_a=["pg-1"], side_b=["etcd"])
    assert [n.name for n in p._resolve(env)] == ["pg-1"] and [n.name for n in p.peers] == ["etcd-1"]
    holders["replica"] = nodes("pg-2")
    with pytest.raises(FaultError, match="pg-2 is on both sides"):
        Partition(side_a=["primary"], side_b=["replica"])._resolve(env)
    holders["primary"] = []
    with pytest.raises(FaultError, match="no node holds role 'primary' now"):
        Partition(side_a=["primary"], side_b=["etcd"])._resolve(env)


SCENARIO = """\
scenario: cut the primary off
environment: ha
probe: false
faults:
  - kind: partition
    side_a: %s
    side_b: [replica]
    at: 0s
    for: 2s
observe: 2s
"""


@pytest.mark.parametrize("side, ok", [
    ("[primary]", True), ("[pg]", True), ("[pg-3]", True), ("primary", True),
    ("[pg-4]", False), ("[leader]", False), ("[]", False),
])
def test_scenario_checks_partition_sides_when_loaded(tmp_path, side, ok):
    from drillkit.scenario.model import load_scenario
    spec(tmp_path)
    p = tmp_path / "scenarios" / "cut.yaml"
    p.parent.mkdir(exist_ok=True)
    p.write_text(SCENARIO % side, encoding="utf-8")
    if ok:
        assert load_scenario(p).faults[0].params["side_a"] in (["primary"], ["pg"], ["pg-3"], "primary")
        return
    with pytest.raises(ConfigError) as info:
        load_scenario(p)
    msg = str(info.value)
    assert "faults[0].side_a" in msg and ":6:" in msg and "fix:" in msg and "primary, replica" in msg, msg


# -- the PostgreSQL client follows the primary among a service's replicas ------------------------------
def test_postgres_client_lists_every_replica_read_write(tmp_path, monkeypatch):
    from drillkit.clients.contract import ClientContext
    from drillkit.clients.declare import parse_client
    from drillkit.clients.postgres import PostgresClient, conninfo
    s = spec(tmp_path)
    env = FakeEnv(s)
    c = parse_client("writers", {"kind": "postgres", "service": "pg", "database": "d", "user": "u", "password": "p",
                                 "statement": "INSERT INTO t (id) VALUES (%(id)s)", "params": {"id": "{uuid}"},
                                 "write": {"id": "var:id"}}, services=s.services)
    monkeypatch.setattr("drillkit.clients.address.resolve",
                        lambda env, service, port, replica=1: (f"10.0.0.{replica}", port))
    monkeypatch.setattr("drillkit.clients.address.check_host", lambda env, host: None)
    client = PostgresClient(c, "writers-001")
    client.open(ClientContext(name="writers-001", index=0, rng=random.Random(0), timeline=Timeline(), env=env))
    assert client.hosts == [("10.0.0.1", 5432), ("10.0.0.2", 5432), ("10.0.0.3", 5432)]
    kw = conninfo(client.hosts, database="d", user="u", password="p", connect_timeout=2)
    assert kw["host"] == "10.0.0.1,10.0.0.2,10.0.0.3" and kw["target_session_attrs"] == "read-write"


# -- the worked example validates without containers -------------------------------------------------
def test_patroni_example_is_yaml_only_and_validates():
    from drillkit.scenario.model import load_scenario
    root = Path(__file__).resolve().parents[2] / "examples" / "patroni"
    sc = load_scenario(root / "scenarios" / "patroni_primary_loss.yaml")
    assert [f.kind for f in sc.faults] == ["partition", "kill"]
    env = load_stack(root / "environments" / "patroni" / "compose.yaml", {"replication": "async"})
    assert set(env.roles) == {"primary", "replica"} and env.services["pg"].replicas == 3
    assert not (root / "environments" / "patroni" / "drill_plugin.py").exists()
    for f in (root / "scenarios" / "patroni_primary_loss.yaml", root / "environments" / "patroni" / "compose.yaml"):
        assert len(f.read_text().splitlines()) <= 80, f
    with pytest.raises(ConfigError, match="choices|one of"):
        load_stack(root / "environments" / "patroni" / "compose.yaml", {"replication": "semi"})
