"""Ad-hoc faults: attributes and targets from the command line, a fault's state through JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drillkit import labels as L
from drillkit.adhoc import AdhocRun, decode_state, encode_state, heal_waves, parse_attrs, parse_target
from drillkit.errors import ConfigError
from drillkit.faults import kinds as fault_kinds
from drillkit.lab.node import Node
from drillkit.stack.target import Target

SERVICES = ["lb", "app", "db-replica"]


@pytest.fixture(autouse=True)
def run_dir(tmp_path, monkeypatch):
    """Runs' files (locks, ad-hoc state) in a folder of this test, not the machine's."""
    monkeypatch.setattr(L, "RUN_DIR", tmp_path / "runs")


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
    fault = fault_kinds.create("partition", None, side_a=["app-1"], side_b=["sessions"])
    fault.fault_id, fault.nodes, fault.injected = "f101", [node], True
    fault.rules = {node: [["OUTPUT", "-d", "172.29.1.5", "-j", "DROP"]]}
    state = encode_state(fault)
    import json
    again = fault_kinds.create("partition", None, side_a=["app-1"], side_b=["sessions"])
    decode_state(again, json.loads(json.dumps(state)))
    assert again.fault_id == "f101" and again.nodes == [node] and again.injected
    assert again.rules == {node: [["OUTPUT", "-d", "172.29.1.5", "-j", "DROP"]]}
    assert again.comment == "drillkit-f101"


def test_toxic_name_follows_the_restored_id():
    fault = fault_kinds.create("latency", None, link="app-db", latency=300)
    state = encode_state(fault)
    again = fault_kinds.create("latency", None, link="app-db", latency=300)
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


def test_the_state_of_a_run_lives_beside_its_lock(tmp_path, monkeypatch):
    up_here = AdhocRun("dk1206131248aaf9414c", tmp_path / "a" / "reports")
    with up_here.locked() as state:
        state.update(timeline=str(up_here.dir / "dk1206131248aaf9414c.jsonl"))
        state["faults"].append({"fault_id": "f101"})
    elsewhere = AdhocRun("dk1206131248aaf9414c", Path("/nonexistent/reports"))   # another directory
    assert [f["fault_id"] for f in elsewhere.active()] == ["f101"]
    assert elsewhere.timeline_path == tmp_path / "a" / "reports" / "adhoc" / "dk1206131248aaf9414c.jsonl"
    assert up_here.state_path.parent == tmp_path / "runs"
    elsewhere.forget()
    assert up_here.active() == []


def test_state_written_by_an_older_drillkit_is_taken_over(tmp_path, monkeypatch):
    legacy = tmp_path / "reports" / "adhoc" / "dk1.state.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"run": "dk1", "faults": [{"fault_id": "f101"}], "next_id": 102}))
    run = AdhocRun("dk1", tmp_path / "reports")
    assert [f["fault_id"] for f in run.active()] == ["f101"] and not legacy.exists()
    assert run.timeline_path == tmp_path / "reports" / "adhoc" / "dk1.jsonl"


def test_heal_waves_newest_first_and_independent_ones_together():
    f = frozenset
    touches = [f({"link:app-db"}), f({"app-1"}), f({"app-2"}), f({"link:app-db"}), f({"app-1", "app-2"}), f({"*"})]
    # oldest first as injected: f101 .. f106; f106 says nothing of what it touches: alone, first
    assert heal_waves(touches) == [[5], [4, 3], [2, 1, 0]]
    assert heal_waves([f({"app-1"}), f({"app-2"}), f({"app-3"})]) == [[2, 1, 0]]
    assert heal_waves([f({"app-1"}), f({"app-1"}), f({"app-1"})]) == [[2], [1], [0]]
    assert heal_waves([]) == []
