"""Ad-hoc faults: attributes and targets from the command line, a fault's state through JSON."""

from __future__ import annotations

import pytest

from drillkit.adhoc import AdhocRun, decode_state, encode_state, parse_attrs, parse_target
from drillkit.errors import ConfigError
from drillkit.faults import registry
from drillkit.faults.base import Target
from drillkit.lab.environment import Node

SERVICES = ["lb", "app", "db-replica"]


def test_attrs_are_typed():
    assert parse_attrs(["latency=300", "stream=upstream", "side_a=[app-1, app-2]", "toxicity=0.5"]) == {
        "latency": 300, "stream": "upstream", "side_a": ["app-1", "app-2"], "toxicity": 0.5}
    with pytest.raises(ConfigError, match="is not NAME=VALUE"):
        parse_attrs(["latency"])


@pytest.mark.parametrize(("kind", "text", "target", "attrs"), [
    ("kill", "app-2", Target("app", replica=2), {}),
    ("kill", "app", Target("app"), {}),
    ("pause", "app@zone-a", Target("app", zone="zone-a"), {}),
    ("kill", "db-replica", Target("db-replica"), {}),
    ("latency", "app-db", None, {"link": "app-db"}),
    ("zone_kill", "zone-b", None, {"zone": "zone-b"}),
    ("partition", "-", None, {}),
])
def test_targets(kind, text, target, attrs):
    got: dict = {}
    assert parse_target(kind, text, got, SERVICES) == target
    assert got == attrs


def test_unknown_kind_and_service_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown fault kind 'explode'"):
        parse_target("explode", "app", {}, SERVICES)
    with pytest.raises(ConfigError, match="no service 'web-1'.*lb-1"):
        parse_target("kill", "web-1", {}, SERVICES)


def test_fault_state_survives_json():
    """What a heal in another process needs: the fault id, nodes, iptables rules keyed by node."""
    node = Node("registry", "app", 1, "zone-a", "dk1-registry-app-1", "dk1")
    fault = registry.create("partition", None, side_a=["app-1"], side_b=["sessions"])
    fault.fault_id, fault.nodes, fault.injected = "f101", [node], True
    fault.rules = {node: [["OUTPUT", "-d", "172.29.1.5", "-j", "DROP"]]}
    state = encode_state(fault)
    import json
    again = registry.create("partition", None, side_a=["app-1"], side_b=["sessions"])
    decode_state(again, json.loads(json.dumps(state)))
    assert again.fault_id == "f101" and again.nodes == [node] and again.injected
    assert again.rules == {node: [["OUTPUT", "-d", "172.29.1.5", "-j", "DROP"]]}
    assert again.comment == "drillkit-f101"


def test_toxic_name_follows_the_restored_id():
    fault = registry.create("latency", None, link="app-db", latency=300)
    state = encode_state(fault)
    again = registry.create("latency", None, link="app-db", latency=300)
    decode_state(again, state)
    assert again.toxic.key == fault.toxic.key


def test_crash_loop_is_refused_by_hand(tmp_path):
    with pytest.raises(ConfigError, match="crash_loop cannot be injected by hand"):
        AdhocRun("dk1", tmp_path).inject("crash_loop", "app-1", {"duration": 5}, env=object())


def test_state_file_roundtrip(tmp_path):
    run = AdhocRun("dk1", tmp_path)
    assert run.active() == []
    with run.locked() as state:
        state["faults"].append({"fault_id": "f101"})
    assert [f["fault_id"] for f in run.active()] == ["f101"]
    run.forget()
    assert run.active() == [] and not run.state_path.exists()
