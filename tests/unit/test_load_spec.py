"""The load: section as data: shapes, phases, bounds, and one-line errors naming file:line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from drillkit.errors import ConfigError
from drillkit.load.phases import phases_of
from drillkit.load.spec import parse_load, parse_rate, parse_search
from drillkit.scenario.model import load_scenario
from drillkit.traffic.shapes import Spike, Steps, Surge

LOADLAB = Path(__file__).resolve().parents[1] / "lab" / "environments" / "loadlab" / "compose.yaml"


def test_rates_in_any_unit():
    assert parse_rate(10) == 10 and parse_rate("10/s") == 10 and parse_rate("600/m") == 10
    assert parse_rate("36000/h") == 10
    for bad in (0, -1, "ten", True, None, "10/d"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_spike_phases_carry_their_factor():
    spec = parse_load({"shape": "spike", "rate": "10/s", "factor": 4, "at": "5s", "for": "10s", "duration": "20s",
                       "actions": ["visitors"]}, None, "load")
    assert isinstance(spec.shape, Spike) and spec.base == 10 and spec.actions == (("visitors", 1.0),)
    ph = phases_of(spec.shape, spec.base)
    assert [(p.name, p.start, p.end, p.rate, p.factor) for p in ph] == [
        ("before", 0, 5, 10, 1), ("spike ×4", 5, 15, 40, 4), ("after", 15, 20, 10, 1)]


def test_surge_steps_burst_and_ramp():
    surge = parse_load({"shape": "surge", "rate": 2, "at": 5, "duration": 30, "actions": "visitors"}, None, "load")
    assert isinstance(surge.shape, Surge) and surge.shape.factor == 20
    assert [p.name for p in phases_of(surge.shape)] == ["before", "rise", "surge ×20"]
    steps = parse_load({"shape": "steps", "rate": 10, "factor": 3, "step": 0.5, "every": 4, "actions": "v"}, None, "load")
    assert isinstance(steps.shape, Steps) and steps.duration == 20
    assert [round(p.factor, 2) for p in phases_of(steps.shape)] == [1, 1.5, 2, 2.5, 3]
    burst = parse_load({"shape": "burst", "rate": 5, "at": 2, "for": 6, "duration": 20, "actions": "v"}, None, "load")
    assert [p.name for p in phases_of(burst.shape)] == ["before", "burst ×5", "after"]
    ramp = parse_load({"shape": "ramp", "rate": 5, "factor": 4, "duration": 10, "steps": 4, "actions": "v"}, None, "load")
    assert [p.rate for p in phases_of(ramp.shape)] == [5, 10, 15, 20]


@pytest.mark.parametrize("raw, field, words", [
    ({"shape": "wave", "rate": 1, "actions": "v"}, "load.shape", "unknown shape 'wave'"),
    ({"shape": "spike", "rate": 1, "at": 1, "duration": 5, "actions": "v"}, "load.for", "a spike needs `for`"),
    ({"shape": "constant", "rate": 1, "duration": 5, "factor": 2, "actions": "v"}, "load.factor", "has no `factor`"),
    ({"shape": "constant", "rate": "lots", "duration": 5, "actions": "v"}, "load.rate", "not a rate"),
    ({"shape": "constant", "rate": 1, "duration": 5}, "load.actions", "missing `actions`"),
    ({"shape": "constant", "rate": 1, "duration": "2h", "actions": "v"}, "load.duration", "longer than 900 s"),
    ({"shape": "constant", "rate": 1000, "duration": 300, "actions": "v"}, "load.max_arrivals", "more than max_arrivals"),
    ({"shape": "constant", "rate": 1, "duration": 5, "actions": "v", "concurrency": 9999}, "load.concurrency", "1..500"),
    ({"shape": "spike", "rate": 1, "at": 9, "for": 1, "duration": 5, "actions": "v"}, "load.at", "not before the end"),
])
def test_bad_loads_are_one_line_errors(raw, field, words):
    with pytest.raises(ConfigError) as ei:
        parse_load(raw, None, "load")
    msg = str(ei.value)
    assert "\n" not in msg and " — fix: " in msg and msg.startswith(f"{field}: "), msg
    assert words in msg, msg


def scenario(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(f"scenario: load\nenvironment: {LOADLAB}\nprobe: false\n{body}", encoding="utf-8")
    return p


def test_a_scenario_whose_load_is_the_drill_needs_no_faults(tmp_path):
    sc = load_scenario(scenario(tmp_path, """\
load:
  shape: spike
  rate: 10/s
  factor: 4
  at: 5s
  for: 10s
  duration: 20s
  actions: [visitors]
expect:
  throughput: 0.95
  load_p95: 1s
  shed: {max: 0.01}
  lead_time: {alert: {factor: 2, for: 2s, window: 2s}, slo: {p95: 1s}}
"""))
    assert sc.faults == () and len(sc.load) == 1 and sc.schedule_end == 20
    assert [e.key for e in sc.expect.items] == ["throughput", "load_p95", "shed", "lead_time"]
    assert "load" in sc.fault_label


@pytest.mark.parametrize("body, where, words", [
    ("load: {shape: constant, rate: 5, duration: 5s, actions: [walkers]}\n", ":4: load.actions.walkers",
     "no user kind or client 'walkers'"),
    ("load: {shape: constant, rate: 5, duration: 5s, actions: [visitors]}\nexpect:\n  breaking_point: 4\n",
     ":6: expect.breaking_point", "no search in this scenario"),
    ("faults: [{kind: kill, target: app}]\nexpect:\n  throughput: 0.9\n", ":6: expect.throughput", "no load in this scenario"),
    ("load: {shape: constant, rate: 5, duration: 5s, actions: [visitors]}\nexpect:\n  throughput: {load: x9}\n",
     ":6: expect.throughput", "no load labelled 'x9'"),
    ("search: {rate: 5/s, actions: [visitors], slo: {p95: 1s}, factors: [3, 2]}\n", ":4: search.factors",
     "factors must rise"),
    ("severity: minor\n", ":1: faults", "missing `faults`"),
])
def test_scenario_load_errors_name_file_line_and_field(tmp_path, body, where, words):
    p = scenario(tmp_path, body)
    with pytest.raises(ConfigError) as ei:
        load_scenario(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}{where}: ") and words in msg and "\n" not in msg, msg


def test_search_section():
    spec = parse_search({"rate": "10/s", "actions": ["visitors"], "slo": {"p95": "500ms", "served": 0.99},
                         "factors": [1, 2, 4, 8], "hold": "6s", "forecast": 4}, None, "search")
    assert spec.base == 10 and spec.p95 == 0.5 and spec.factors == (1, 2, 4, 8) and spec.forecast == 4
