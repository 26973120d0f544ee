"""Broken scenarios, generated: each mutation of a valid scenario gets a one-line `ConfigError` naming
the file — never a traceback, never any other exception."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drillkit.errors import ConfigError
from drillkit.scenario.model import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[2]
COMPOSE = str(REPO / "environments" / "registry" / "compose.yaml")

BASE: dict[str, Any] = {
    "scenario": "registry node kill",
    "source": "SCENARIOS.md",
    "environment": COMPOSE,
    "switches": {"sessions": "shared"},
    "severity": "critical",
    "users": {"clerks": 20},
    "probe": {"interval": "50ms", "path": "/version"},
    "steady_state": {"duration": "3s", "availability": {"existing-sessions": 0.99}},
    "faults": [
        {"kind": "kill", "target": {"service": "app", "replica": 2}, "at": "0s", "for": "8s"},
        {"kind": "stop", "target": {"service": "app", "zone": "zone-b", "random": True, "seed": 7},
         "at": "1s", "for": "1s", "grace": 2, "repeat": {"every": "3s", "times": 2}},
    ],
    "observe": "8s",
    "recover": "2s",
    "guards": [{"population": "existing-sessions", "availability_below": 0.5, "for": "5s"}],
    "max_nodes": 2,
    "expect": {"recovery_time": {"population": "existing-sessions", "max": "3s", "consecutive": 3},
               "sessions_lost": 0, "writes_lost": 0, "availability": {"new-logins": 0.9}},
}
REQUIRED = ("scenario", "environment", "faults")
DURATION_PATHS = [("observe",), ("recover",), ("steady_state", "duration"), ("faults", 0, "at"),
                  ("faults", 0, "for"), ("faults", 1, "at"), ("faults", 1, "repeat", "every"),
                  ("guards", 0, "for"), ("expect", "recovery_time", "max"), ("probe", "interval")]
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every (container path, key) in the document."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(paths(v, prefix + (k,)))
    return out


def at(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def check(text: str | bytes, *, must_fail: bool = True) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fuzzed.yaml"
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        try:
            result = load_scenario(p)
        except ConfigError as exc:
            msg = str(exc)
            assert str(p) in msg, msg
            assert "\n" not in msg and "Traceback" not in msg, msg
            return
        assert not must_fail, f"accepted a broken scenario:\n{text}"
        assert isinstance(result, Scenario)


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


keys = st.sampled_from(paths(BASE))
junk_names = st.text(st.characters(categories=("Ll", "Nd")), min_size=1, max_size=8).map(lambda s: "zz" + s)


@FUZZ
@given(st.sampled_from(REQUIRED))
def test_dropping_a_required_key(key):
    doc = copy.deepcopy(BASE)
    del doc[key]
    check(dump(doc))


@FUZZ
@given(keys, junk_names)
def test_renaming_any_key(path, new):
    doc = copy.deepcopy(BASE)
    parent = at(doc, path[:-1])
    if isinstance(parent, list):  # a list index: replace the item by a mapping with an unknown key
        parent[path[-1]] = {new: 1}
    else:
        parent[new] = parent.pop(path[-1])
    check(dump(doc))


@FUZZ
@given(keys, st.one_of(st.lists(st.integers(), min_size=1, max_size=3),
                       st.dictionaries(junk_names, st.integers(), min_size=1, max_size=2)))
def test_wrong_types(path, value):
    doc = copy.deepcopy(BASE)
    parent = at(doc, path[:-1])
    old = parent[path[-1]]
    if isinstance(old, (dict, list)):
        value = "zz-not-a-" + type(old).__name__
    elif isinstance(value, dict) and path[-1] in ("switches",):
        value = [1]
    parent[path[-1]] = value
    check(dump(doc))


@FUZZ
@given(st.sampled_from(DURATION_PATHS), st.floats(min_value=0.001, max_value=1e6), st.sampled_from(["ms", "s", "m", ""]))
def test_negative_durations(path, amount, unit):
    doc = copy.deepcopy(BASE)
    at(doc, path[:-1])[path[-1]] = f"-{amount:g}{unit}" if unit else -amount
    check(dump(doc))


@FUZZ
@given(st.integers(0, 1), junk_names, st.sampled_from(["kind", "attribute", "service", "replica", "zone", "container"]))
def test_unknown_kinds_attributes_targets(i, name, what):
    doc = copy.deepcopy(BASE)
    f = doc["faults"][i]
    if what == "kind":
        f["kind"] = name
    elif what == "attribute":
        f[name] = 1
    elif what == "service":
        f["target"]["service"] = name
    elif what == "replica":
        f["target"]["replica"] = 5 + len(name)
    elif what == "zone":
        f["target"]["zone"] = name
    else:
        f["target"]["container"] = f"dk1-registry-app-{len(name)}"
    check(dump(doc))


@FUZZ
@given(st.text(max_size=200))
def test_garbage_text(text):
    check(text)


@FUZZ
@given(st.binary(max_size=200))
def test_garbage_bytes(data):
    check(data)


@FUZZ
@given(st.data())
def test_corrupted_valid_text(data):
    """Characters spliced into a valid file: either still valid, or one ConfigError line."""
    text = dump(BASE)
    pos = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(alphabet=":{}[]-,#&*!|>'\"%@`\t\n ?x1", min_size=1, max_size=6))
    check(text[:pos] + junk + text[pos:], must_fail=False)
