"""Scenario files: what loads, and every kind of mistake as one line naming file:line, field and fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drillkit.errors import ConfigError
from drillkit.scenario.model import load_scenario, looks_like_scenario
from drillkit.yamlsrc import parse_duration

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "environments" / "registry" / "compose.yaml"

VALID = f"""\
scenario: registry node kill
source: SCENARIOS.md
environment: {COMPOSE}
switches: {{sessions: shared}}
severity: critical
users:
  clerks: 20
probe: {{interval: 50ms, path: /version}}
steady_state:
  duration: 3s
  availability: {{existing-sessions: 0.99}}
faults:
  - kind: kill
    target: {{service: app, replica: 2}}
    at: 0s
    for: 8s
  - kind: stop
    target: {{service: app, zone: zone-b, random: true, seed: 7}}
    at: 1s
    for: 1s
    grace: 2
    repeat: {{every: 3s, times: 2}}
observe: 8s
recover: 2s
guards:
  - {{population: existing-sessions, availability_below: 0.5, for: 5s}}
max_nodes: 2
expect:
  recovery_time: {{population: existing-sessions, max: 3s, consecutive: 3}}
  sessions_lost: 0
  writes_lost: 0
  availability: {{new-logins: 0.9}}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def broken(tmp_path: Path, old: str, new: str) -> tuple[str, Path, int]:
    """Replace `old` in the valid scenario; return the error message, the file and old's line."""
    assert old in VALID, old
    text = VALID.replace(old, new, 1)
    line = VALID[: VALID.index(old)].count("\n") + 1
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_scenario(p)
    msg = str(ei.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert msg.startswith(f"{p}:"), msg
    return msg, p, line


def test_valid_scenario_loads(tmp_path):
    sc = load_scenario(write(tmp_path, VALID))
    assert sc.title == "registry node kill" and sc.stack == "registry" and sc.severity == "critical"
    (clerks,) = sc.traffic                      # x-drillkit.users.clerks of the registry, 20 of them
    assert (clerks.name, clerks.count, clerks.section) == ("clerks", 20, "users")
    assert sc.session_populations == ("existing-sessions",) and clerks.writes
    assert sc.probe == {"interval": 0.05, "path": "/version"}
    assert sc.steady_duration == 3.0 and sc.steady_availability == {"existing-sessions": 0.99}
    kill, stop = sc.faults
    assert (kill.kind, kill.target.service, kill.target.replica, kill.at, kill.duration) == ("kill", "app", 2, 0, 8)
    assert stop.params == {"grace": 2.0} and stop.target.random_member and stop.target.seed == 7
    assert [(o.start, o.end) for o in stop.occurrences()] == [(1.0, 2.0), (4.0, 5.0)]
    assert sc.last_injection == 4.0 and sc.schedule_end == 12.0
    assert sc.fault_label == "kill + stop"
    assert sc.expect.recovery_time.max == 3.0 and sc.expect.availability == {"new-logins": 0.9}
    assert sc.marker_kwargs()["scenario"] == "registry node kill"
    assert sc.guards[0].window == 5.0


def test_shipped_scenarios_validate():
    files = sorted((REPO / "scenarios").glob("*.yaml"))
    assert files
    for f in files:
        load_scenario(f)


@pytest.mark.parametrize("raw,seconds", [("500ms", 0.5), ("3s", 3), ("1m", 60), (2, 2), (0.25, 0.25), ("1h", 3600)])
def test_durations(raw, seconds):
    assert parse_duration(raw) == pytest.approx(seconds)


def test_malformed_yaml_names_line(tmp_path):
    p = write(tmp_path, VALID.replace("observe: 8s", "observe: [8s"))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(p))}:\d+: not valid YAML"):
        load_scenario(p)


def test_not_a_mapping(tmp_path):
    p = write(tmp_path, "- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_scenario(p)


def test_not_utf8(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_bytes(b"scenario: x\n\xff\xfe")
    with pytest.raises(ConfigError, match=r":2: not UTF-8"):
        load_scenario(p)


@pytest.mark.parametrize("old,new,field,words", [
    ("severity: critical", "severty: critical", "severty", "unknown top-level key 'severty'"),
    ("severity: critical", "severity: urgent", "severity", "unknown severity 'urgent'"),
    ("    at: 0s", "    at: -2s", "faults[0].at", "negative duration '-2s'"),
    ("observe: 8s", "observe: -1", "observe", "negative duration -1"),
    ("recover: 2s", "recover: soon", "recover", "not a duration: 'soon'"),
    ("  - kind: kill", "  - kind: explode", "faults[0].kind", "unknown fault kind 'explode'"),
    ("    grace: 2", "    signal: 9", "faults[1].signal", "fault 'stop' has no attribute 'signal'"),
    ("    grace: 2", "    grace: [1]", "faults[1].grace", "must be a number"),
    ("{service: app, replica: 2}", "{service: web, replica: 2}", "faults[0].target.service",
     "'web' is not a service of environment 'registry'"),
    ("{service: app, replica: 2}", "{service: app, replica: 9}", "faults[0].target.replica",
     "app has 4 replica(s), not 9"),
    ("zone: zone-b", "zone: zone-c", "faults[1].target.zone", "no replica in zone 'zone-c'"),
    ("{service: app, replica: 2}", "{service: app, colour: red}", "faults[0].target.colour", "unknown key 'colour'"),
    ("switches: {sessions: shared}", "switches: {sesions: shared}", "switches.sesions",
     "has no switch 'sesions'"),
    ("switches: {sessions: shared}", "switches: {sessions: cloud}", "switches.sessions",
     "switch sessions='cloud' is not a choice"),
    ("  clerks: 20", "  citizens: 20", "users.citizens", "unknown user kind 'citizens'"),
    ("  clerks: 20", "  clerks: 0", "users.clerks", "whole number 1..500"),
    ("availability: {existing-sessions: 0.99}", "availability: {everyone: 0.99}",
     "steady_state.availability.everyone", "unknown population 'everyone'"),
    ("{population: existing-sessions, availability_below", "{population: citizens, availability_below",
     "guards[0].population", "unknown population 'citizens'"),
    ("  sessions_lost: 0", "  session_lost: 0", "expect.session_lost", "unknown expectation 'session_lost'"),
    ("availability: {new-logins: 0.9}", "availability: {new-logins: 1.5}", "expect.availability.new-logins",
     "ratio 0..1"),
    ("probe: {interval: 50ms", "probe: {interval: 50s", "probe.interval", "not 0.005..10 s"),
    ("max_nodes: 2", "max_nodes: 1", "faults[1].target", "2 nodes faulted at once"),
    ("    for: 8s", "    for: 30s", "faults[0].for", "after observe ends"),
    ("repeat: {every: 3s, times: 2}", "repeat: {every: 1s, times: 2}", "faults[1].repeat.every",
     "not longer than for"),
])
def test_every_error_names_file_line_field(tmp_path, old, new, field, words):
    msg, p, line = broken(tmp_path, old, new)
    assert re.match(rf"^{re.escape(str(p))}:\d+: {re.escape(field)}: ", msg), msg
    assert words in msg, msg
    assert " — fix: " in msg, msg


def test_error_line_is_the_offending_line(tmp_path):
    msg, p, line = broken(tmp_path, "  - kind: kill", "  - kind: explode")
    assert msg.startswith(f"{p}:{line}: faults[0].kind:"), msg
    msg, p, line = broken(tmp_path, "severity: critical", "severty: critical")
    assert msg.startswith(f"{p}:{line}: severty:"), msg


@pytest.mark.parametrize("target,words", [
    ("{service: dk123-registry-app-2}", "outside the run"),
    ("{service: app, container: dk123-registry-app-2}", "target by 'container' is outside the run"),
    ("{service: app, environment: booking}", "target by 'environment' is outside the run"),
    ("booking/app", "outside the run"),
    ("app-2", "write {service: app, replica: 2}"),
])
def test_target_outside_the_run(tmp_path, target, words):
    msg, _, _ = broken(tmp_path, "{service: app, replica: 2}", target)
    assert "faults[0].target" in msg and words in msg, msg


def test_missing_required_key(tmp_path):
    text = "\n".join(l for l in VALID.splitlines() if not l.startswith("environment:"))
    with pytest.raises(ConfigError, match=r":1: environment: missing `environment`"):
        load_scenario(write(tmp_path, text))


def test_unknown_environment(tmp_path):
    msg, _, line = broken(tmp_path, f"environment: {COMPOSE}", "environment: mainframe")
    assert f":{line}: environment: no environment 'mainframe'" in msg, msg


def test_writes_lost_needs_ground_truth_and_users(tmp_path):
    text = VALID.replace("users:\n  clerks: 20\n", "")
    text = text.replace("availability: {existing-sessions: 0.99}", "availability: {probe: 0.99}")
    text = text.replace("population: existing-sessions", "population: probe")
    text = text.replace("  sessions_lost: 0\n", "").replace("  availability: {new-logins: 0.9}\n", "")
    with pytest.raises(ConfigError, match=r"expect.writes_lost: no users write"):
        load_scenario(write(tmp_path, text))


def test_shorthands(tmp_path):
    text = VALID.replace("{service: app, replica: 2}", "app").replace(
        "recovery_time: {population: existing-sessions, max: 3s, consecutive: 3}", "recovery_time: 4s")
    text = text.replace("max_nodes: 2", "max_nodes: 5").replace("probe: {interval: 50ms, path: /version}", "probe: false")
    sc = load_scenario(write(tmp_path, text))
    assert sc.faults[0].target.service == "app" and sc.faults[0].target.replica is None
    assert sc.expect.recovery_time.max == 4.0 and sc.expect.recovery_time.population == "existing-sessions"
    assert sc.probe is None


def test_looks_like_scenario(tmp_path):
    (tmp_path / "scenarios").mkdir()
    assert looks_like_scenario(write(tmp_path / "scenarios", "anything: 1"))
    assert looks_like_scenario(write(tmp_path, "# drill\nscenario: x\n", "a.yaml"))
    assert not looks_like_scenario(write(tmp_path, "services: {}\n", "compose.yaml"))
    assert not looks_like_scenario(write(tmp_path, "scenario: x\n", "a.txt"))


def test_attributes_naming_parts_of_the_environment(tmp_path):
    link = VALID.replace("  - kind: kill\n    target: {service: app, replica: 2}\n",
                         "  - kind: latency\n    link: app-db\n    latency: 200\n")
    sc = load_scenario(write(tmp_path, link))
    assert sc.faults[0].target is None and sc.faults[0].params == {"link": "app-db", "latency": 200}
    with pytest.raises(ConfigError, match=r":14: faults\[0\].link: environment 'registry' has no link 'app-web'"):
        load_scenario(write(tmp_path, link.replace("link: app-db", "link: app-web")))
    with pytest.raises(ConfigError, match=r"faults\[0\].latency: fault 'latency' needs 'latency'"):
        load_scenario(write(tmp_path, link.replace("    latency: 200\n", "")))
    zone = VALID.replace("  - kind: kill\n    target: {service: app, replica: 2}\n", "  - kind: zone_kill\n    zone: zone-c\n")
    with pytest.raises(ConfigError, match=r"faults\[0\].zone: environment 'registry' has no zone 'zone-c'"):
        load_scenario(write(tmp_path, zone))


@pytest.mark.parametrize("value, ok", [("report", True), ("fail", True), ("critical", True),
                                       ("[split-brain, never-worked-again]", True), ("loud", False),
                                       ("[no-such-kind]", False)])
def test_findings_key_is_checked_when_loaded(tmp_path, value, ok):
    from drillkit.scenario.model import load_scenario
    p = tmp_path / "scenarios" / "f.yaml"
    p.parent.mkdir()
    p.write_text(f"scenario: findings\nenvironment: {COMPOSE}\n"
                 f"probe: false\nfaults:\n  - {{kind: kill, target: {{service: app, replica: 2}}, at: 0s}}\n"
                 f"observe: 2s\nfindings: {value}\n")
    if ok:
        assert load_scenario(p).findings in ("report", "fail", "critical", ["split-brain", "never-worked-again"])
        return
    with pytest.raises(ConfigError) as info:
        load_scenario(p)
    assert "findings" in str(info.value) and ":7:" in str(info.value) and "fix:" in str(info.value)
