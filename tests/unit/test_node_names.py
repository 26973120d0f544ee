"""A service of one replica keeps its own name (issue 16: a stack whose nodes are three services
app-1, app-2, app-3 read `permits/app-2-1` in every sentence); `<service>-<n>` stays a DNS alias and
is accepted wherever users wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.adhoc import parse_target
from drillkit.errors import ConfigError
from drillkit.faults.change import runbook_for_node
from drillkit.faults.network import _match
from drillkit.lab.backends.docker.backend import _aliases
from drillkit.lab.compose import load_environment
from drillkit.lab.node import Node
from drillkit.stack.runbook import Runbook, Step
from drillkit.stack.target import Target


def node(service: str, replica: int = 1, *, single: bool) -> Node:
    return Node("permits", service, replica, "default", f"dk1-permits-{service}-{replica}", "dk1", single=single)


def test_a_single_replica_is_named_after_its_service_and_answers_to_both_names():
    app2 = node("app-2", single=True)
    assert (app2.name, app2.replica_name, app2.names, str(app2)) == ("app-2", "app-2-1", ("app-2", "app-2-1"),
                                                                    "permits/app-2")
    web2 = node("web", 2, single=False)
    assert (web2.name, web2.names, str(web2)) == ("web-2", ("web-2",), "permits/web-2")
    # a Node made without `single` (older code, state files of `drill up` runs) reads as before
    assert Node("permits", "app-2", 1, "default", "c", "dk1").name == "app-2-1"


def test_dns_aliases_keep_the_replica_name():
    assert _aliases("app-2", node("app-2", single=True), ["legacy"]) == ["app-2", "app-2-1", "legacy"]
    assert _aliases("web", node("web", 2, single=False), []) == ["web", "web-2"]


class Env:
    """What `_match` asks of an environment: its nodes and its roles."""

    name = "permits"

    def __init__(self, nodes):
        self._nodes = nodes
        self.nodes = {n.service: [n] for n in nodes}
        self.spec = type("Spec", (), {"roles": {}})()

    def all_nodes(self):
        return list(self._nodes)


def test_partition_sides_accept_the_service_the_node_and_the_old_replica_name():
    nodes = [node(f"app-{i}", single=True) for i in (1, 2, 3)] + [node("db", single=True)]
    env = Env(nodes)
    assert [n.name for n in _match(env, ["app-2"], "side_a")] == ["app-2"]
    assert [n.name for n in _match(env, ["app-2-1", "db-1"], "side_a")] == ["app-2", "db"]


def test_drill_inject_accepts_the_service_and_its_replica_name():
    services = ["app-1", "app-2", "app-3", "lb"]
    assert parse_target("kill", "app-2", {}, services) == Target("app-2")
    assert parse_target("kill", "app-2-1", {}, services) == Target("app-2", replica=1)


def test_runbooks_fill_node_with_the_node_name_and_service_replica_with_the_old_one():
    rb = Runbook("drain", (Step("exec", "exec", {"command": ("sh", "-c", "drain {node} ({service}-{replica})")}),))
    (step,) = runbook_for_node(rb, node("app-2", single=True)).steps
    assert step.attrs["command"] == ("sh", "-c", "drain app-2 (app-2-1)")


def test_a_service_named_like_another_services_replica_is_refused(tmp_path: Path):
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  app:\n    image: x\n    deploy: {replicas: 2}\n  app-2:\n    image: x\n",
                 encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_environment(f)
    msg = str(e.value)
    assert "compose.yaml:5: services.app-2: service app-2 has the name of replica 2 of service app" in msg
    assert "fix: rename one of them" in msg and "\n" not in msg
    f.write_text("services:\n  app-1:\n    image: x\n  app-2:\n    image: x\n  app-3:\n    image: x\n",
                 encoding="utf-8")
    assert sorted(load_environment(f).services) == ["app-1", "app-2", "app-3"]
